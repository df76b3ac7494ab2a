package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CertManager keeps the webhook's serving certificate and the
// MutatingWebhookConfiguration's caBundle valid. It is a manager.Runnable
// that runs on every replica (each serves the webhook).
type CertManager struct {
	// Client reads and writes the MutatingWebhookConfiguration; it must work
	// before the manager's cache starts (an uncached client).
	Client client.Client
	// ConfigName is the name of the MutatingWebhookConfiguration and of the
	// ValidatingWebhookConfiguration.
	ConfigName string
	// URL, when set, is the webhook server's address as the API server
	// reaches it (https://host:port), for a controller outside the
	// cluster: the configurations are created or updated with the
	// Webhooks served there. When empty the configurations come from the
	// manifests, with a service clientConfig, and only their caBundles are
	// written.
	URL string
	// Webhooks are the webhooks served besides the pod mutator, written
	// into the configurations in url mode.
	Webhooks Webhooks
	// Hosts are the names and addresses the serving certificate is for.
	Hosts []string
	// CertDir is where the webhook server reads tls.crt and tls.key.
	CertDir string
	// Validity is a generated certificate's life; zero means
	// DefaultValidity.
	Validity time.Duration
	// Log receives what the manager does.
	Log logr.Logger

	certs *Certs
}

// Setup makes sure CertDir holds a valid certificate for Hosts, reusing
// one that is there and not due for renewal. Call it before the webhook
// server starts.
func (m *CertManager) Setup(now time.Time) error {
	if c := LoadCerts(m.CertDir, m.Hosts, now); c != nil && now.Before(c.RenewAt()) {
		m.certs = c
		return nil
	}
	c, err := GenerateCerts(m.Hosts, now, m.validity())
	if err != nil {
		return err
	}
	if err := c.Write(m.CertDir); err != nil {
		return err
	}
	m.certs = c
	m.Log.Info("generated webhook serving certificate", "hosts", m.Hosts, "notAfter", c.NotAfter)
	return nil
}

func (m *CertManager) validity() time.Duration {
	if m.Validity > 0 {
		return m.Validity
	}
	return DefaultValidity
}

// NeedLeaderElection is false: every replica serves the webhook with its
// own certificate.
func (m *CertManager) NeedLeaderElection() bool { return false }

// Start publishes the CA in the webhook configuration, then renews the
// certificate when due, until ctx ends. Failures are logged and retried
// with backoff: the webhook fails open meanwhile.
func (m *CertManager) Start(ctx context.Context) error {
	if m.certs == nil {
		if err := m.Setup(time.Now()); err != nil {
			return err
		}
	}
	backoff := time.Second
	published := false
	for {
		wait := time.Until(m.certs.RenewAt())
		if !published {
			if err := m.Publish(ctx, m.certs.CAPEM); err != nil {
				m.Log.Error(err, "publish webhook CA bundle", "configuration", m.ConfigName)
				wait = min(wait, backoff)
				backoff = min(backoff*2, 5*time.Minute)
			} else {
				published = true
				backoff = time.Second
			}
		}
		timer := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
		if !published || time.Now().Before(m.certs.RenewAt()) {
			continue
		}
		if err := m.rotate(ctx, time.Now()); err != nil {
			m.Log.Error(err, "renew webhook serving certificate")
			timer := time.NewTimer(backoff)
			backoff = min(backoff*2, 5*time.Minute)
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil
			case <-timer.C:
			}
		}
	}
}

// rotate trusts a new CA first, then serves the certificate it signed.
func (m *CertManager) rotate(ctx context.Context, now time.Time) error {
	c, err := GenerateCerts(m.Hosts, now, m.validity())
	if err != nil {
		return err
	}
	if err := m.Publish(ctx, c.CAPEM); err != nil {
		return err
	}
	if err := c.Write(m.CertDir); err != nil {
		return err
	}
	m.certs = c
	m.Log.Info("renewed webhook serving certificate", "notAfter", c.NotAfter)
	return nil
}

// Publish adds ca to the caBundle of every webhook of the mutating and
// validating configurations, creating or updating them whole first when
// URL is set. In service mode a validating configuration that does not
// exist is left alone (manifests from before kelb served validation).
func (m *CertManager) Publish(ctx context.Context, ca []byte) error {
	mutating, validating := Configurations(m.ConfigName, m.URL, m.Webhooks)
	if err := publish(ctx, m, &admissionregistrationv1.MutatingWebhookConfiguration{}, mutating, len(mutating.Webhooks) > 0, ca,
		func(c *admissionregistrationv1.MutatingWebhookConfiguration) []*admissionregistrationv1.WebhookClientConfig {
			out := make([]*admissionregistrationv1.WebhookClientConfig, len(c.Webhooks))
			for i := range c.Webhooks {
				out[i] = &c.Webhooks[i].ClientConfig
			}
			return out
		},
		func(dst, src *admissionregistrationv1.MutatingWebhookConfiguration) { dst.Webhooks = src.Webhooks }); err != nil {
		return err
	}
	return publish(ctx, m, &admissionregistrationv1.ValidatingWebhookConfiguration{}, validating, len(validating.Webhooks) > 0, ca,
		func(c *admissionregistrationv1.ValidatingWebhookConfiguration) []*admissionregistrationv1.WebhookClientConfig {
			out := make([]*admissionregistrationv1.WebhookClientConfig, len(c.Webhooks))
			for i := range c.Webhooks {
				out[i] = &c.Webhooks[i].ClientConfig
			}
			return out
		},
		func(dst, src *admissionregistrationv1.ValidatingWebhookConfiguration) { dst.Webhooks = src.Webhooks })
}

// publish brings one configuration in step: in url mode want's webhooks
// replace its own (the configuration is deleted when wanted is false: no
// webhook of its kind is served); then ca joins every webhook's bundle,
// keeping the CAs still valid there. Nothing is written when nothing
// changes.
func publish[T client.Object](ctx context.Context, m *CertManager, cfg, want T, wanted bool, ca []byte,
	clientConfigs func(T) []*admissionregistrationv1.WebhookClientConfig, setWebhooks func(dst, src T)) error {
	kind := fmt.Sprintf("%T", cfg)
	kind = kind[strings.LastIndex(kind, ".")+1:]
	err := m.Client.Get(ctx, client.ObjectKey{Name: m.ConfigName}, cfg)
	switch {
	case apierrors.IsNotFound(err) && m.URL != "" && wanted:
		for _, cc := range clientConfigs(want) {
			cc.CABundle = MergeCABundle(nil, ca, time.Now())
		}
		if err := m.Client.Create(ctx, want); err != nil {
			return fmt.Errorf("create %s %s: %w", kind, m.ConfigName, err)
		}
		return nil
	case apierrors.IsNotFound(err) && (m.URL != "" || kind == "ValidatingWebhookConfiguration"):
		return nil
	case err != nil:
		return fmt.Errorf("get %s %s: %w", kind, m.ConfigName, err)
	}
	if m.URL != "" && !wanted {
		if err := m.Client.Delete(ctx, cfg); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete %s %s: %w", kind, m.ConfigName, err)
		}
		return nil
	}
	before, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	if m.URL != "" {
		var existing []byte
		if ccs := clientConfigs(cfg); len(ccs) > 0 {
			existing = ccs[0].CABundle
		}
		for _, cc := range clientConfigs(want) {
			cc.CABundle = existing
		}
		setWebhooks(cfg, want)
	}
	for _, cc := range clientConfigs(cfg) {
		cc.CABundle = MergeCABundle(cc.CABundle, ca, time.Now())
	}
	after, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	if bytes.Equal(before, after) {
		return nil
	}
	if err := m.Client.Update(ctx, cfg); err != nil {
		return fmt.Errorf("update %s %s: %w", kind, m.ConfigName, err)
	}
	m.Log.Info("published webhook CA bundle", "configuration", m.ConfigName, "kind", kind)
	return nil
}

package webhook

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CertManager keeps the webhook's serving certificate and the
// MutatingWebhookConfiguration's caBundle valid. It is a manager.Runnable
// that runs on every replica (each serves the webhook).
type CertManager struct {
	// Client reads and writes the MutatingWebhookConfiguration; it must work
	// before the manager's cache starts (an uncached client).
	Client client.Client
	// ConfigName is the MutatingWebhookConfiguration's name.
	ConfigName string
	// URL, when set, is the webhook's address as the API server reaches it
	// (https://host:port/mutate-v1-pod), for a controller outside the
	// cluster: the configuration is created or updated with it. When empty
	// the configuration comes from the manifests, with a service
	// clientConfig, and only its caBundle is written.
	URL string
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

// Publish adds ca to the caBundle of every webhook of the configuration,
// creating or updating the whole configuration first when URL is set.
func (m *CertManager) Publish(ctx context.Context, ca []byte) error {
	var cfg admissionregistrationv1.MutatingWebhookConfiguration
	err := m.Client.Get(ctx, client.ObjectKey{Name: m.ConfigName}, &cfg)
	switch {
	case apierrors.IsNotFound(err) && m.URL != "":
		want := Configuration(m.ConfigName, m.URL, MergeCABundle(nil, ca, time.Now()))
		if err := m.Client.Create(ctx, want); err != nil {
			return fmt.Errorf("create mutating webhook configuration %s: %w", m.ConfigName, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("get mutating webhook configuration %s: %w", m.ConfigName, err)
	}
	orig := cfg.DeepCopy()
	if m.URL != "" {
		var existing []byte
		if len(cfg.Webhooks) > 0 {
			existing = cfg.Webhooks[0].ClientConfig.CABundle
		}
		want := Configuration(m.ConfigName, m.URL, existing)
		cfg.Webhooks = want.Webhooks
	}
	for i := range cfg.Webhooks {
		cfg.Webhooks[i].ClientConfig.CABundle = MergeCABundle(cfg.Webhooks[i].ClientConfig.CABundle, ca, time.Now())
	}
	if webhooksEqual(orig.Webhooks, cfg.Webhooks) {
		return nil
	}
	if err := m.Client.Update(ctx, &cfg); err != nil {
		return fmt.Errorf("update mutating webhook configuration %s: %w", m.ConfigName, err)
	}
	m.Log.Info("published webhook CA bundle", "configuration", m.ConfigName)
	return nil
}

func webhooksEqual(a, b []admissionregistrationv1.MutatingWebhook) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].ClientConfig.CABundle, b[i].ClientConfig.CABundle) ||
			(a[i].ClientConfig.URL == nil) != (b[i].ClientConfig.URL == nil) ||
			a[i].ClientConfig.URL != nil && *a[i].ClientConfig.URL != *b[i].ClientConfig.URL {
			return false
		}
	}
	return true
}

// Configuration returns the pod webhook's configuration for a webhook
// reached at url: pods created in namespaces labelled for injection, and
// not labelled disabled themselves; failurePolicy Ignore.
func Configuration(name, url string, caBundle []byte) *admissionregistrationv1.MutatingWebhookConfiguration {
	ignore := admissionregistrationv1.Ignore
	none := admissionregistrationv1.SideEffectClassNone
	equivalent := admissionregistrationv1.Equivalent
	timeout := int32(10)
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    WebhookName,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caBundle},
			AdmissionReviewVersions: []string{"v1"},
			FailurePolicy:           &ignore,
			SideEffects:             &none,
			MatchPolicy:             &equivalent,
			TimeoutSeconds:          &timeout,
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
				},
			}},
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: LabelInject, Operator: metav1.LabelSelectorOpIn, Values: []string{"enabled"},
			}}},
			ObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: LabelInject, Operator: metav1.LabelSelectorOpNotIn, Values: []string{"disabled"},
			}}},
		}},
	}
}

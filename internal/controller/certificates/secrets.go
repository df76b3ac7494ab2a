package certificates

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kelb-io/kelb/internal/controller/model"
)

// Tags on the certificates imported from TLS Secrets.
const (
	TagSecret                = "ingress.k8s.aws/secret"
	TagSecretResourceVersion = "ingress.k8s.aws/secret-resource-version"
)

// ACM is the part of the aws-sdk-go-v2 acm client that SecretCertificates
// uses; *acm.Client, pointed at kelb server, implements it.
type ACM interface {
	ImportCertificate(context.Context, *acm.ImportCertificateInput, ...func(*acm.Options)) (*acm.ImportCertificateOutput, error)
	acm.ListCertificatesAPIClient
	GetCertificate(context.Context, *acm.GetCertificateInput, ...func(*acm.Options)) (*acm.GetCertificateOutput, error)
	DeleteCertificate(context.Context, *acm.DeleteCertificateInput, ...func(*acm.Options)) (*acm.DeleteCertificateOutput, error)
}

var _ ACM = (*acm.Client)(nil)

// SecretCertificates imports Kubernetes TLS Secrets into kelb's
// certificate store, through its ACM-compatible API, and resolves them to
// certificate ARNs. It imports only on change: it remembers the Secret's
// resourceVersion and ARN, and after a restart finds a certificate already
// imported by its PEM. A Secret whose certificate changed is re-imported
// into the same ARN, so listeners keep it and serve the new certificate.
// New certificates are tagged with the Secret's namespace/name,
// resourceVersion and the cluster. Release deletes the certificates of
// Secrets its user names no more, so that their private keys do not
// outlive their use in kelb server.
//
// Each controller keeps its own SecretCertificates: one that finds by PEM
// a certificate the other imported shares its ARN, and kelb server refuses
// to delete a certificate a listener still uses, so neither controller's
// Release takes a certificate from the other's listeners.
type SecretCertificates struct {
	Kube        client.Reader
	ACM         ACM
	ClusterName string

	mu       sync.Mutex
	imported map[string]importedCertificate
}

type importedCertificate struct {
	resourceVersion string
	arn             string
}

// Resolve returns the ARN of the certificate of Secret "<namespace>/<name>".
func (s *SecretCertificates) Resolve(ctx context.Context, secret string) (string, error) {
	ns, name, ok := strings.Cut(secret, "/")
	if !ok {
		return "", fmt.Errorf("secret %q: want namespace/name", secret)
	}
	var sec corev1.Secret
	if err := s.Kube.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &sec); err != nil {
		return "", fmt.Errorf("get secret %s: %w", secret, err)
	}
	s.mu.Lock()
	prev, known := s.imported[secret]
	s.mu.Unlock()
	if known && prev.resourceVersion == sec.ResourceVersion {
		return prev.arn, nil
	}
	certPEM, chainPEM, err := splitChain(sec.Data[corev1.TLSCertKey])
	if err != nil {
		return "", fmt.Errorf("secret %s: %s: %w", secret, corev1.TLSCertKey, err)
	}
	key := sec.Data[corev1.TLSPrivateKeyKey]
	if len(key) == 0 {
		return "", fmt.Errorf("secret %s has no %s", secret, corev1.TLSPrivateKeyKey)
	}
	arn, err := s.find(ctx, certPEM)
	if err != nil {
		return "", err
	}
	if arn == "" {
		in := &acm.ImportCertificateInput{Certificate: certPEM, PrivateKey: key}
		if len(chainPEM) > 0 {
			in.CertificateChain = chainPEM
		}
		if known {
			in.CertificateArn = aws.String(prev.arn)
		} else {
			in.Tags = []acmtypes.Tag{
				{Key: aws.String(TagSecret), Value: aws.String(secret)},
				{Key: aws.String(TagSecretResourceVersion), Value: aws.String(sec.ResourceVersion)},
			}
			if s.ClusterName != "" {
				in.Tags = append(in.Tags, acmtypes.Tag{Key: aws.String(model.TagCluster), Value: aws.String(s.ClusterName)})
			}
		}
		out, err := s.ACM.ImportCertificate(ctx, in)
		if err != nil {
			return "", fmt.Errorf("import certificate of secret %s: %w", secret, err)
		}
		arn = aws.ToString(out.CertificateArn)
	}
	s.mu.Lock()
	if s.imported == nil {
		s.imported = map[string]importedCertificate{}
	}
	s.imported[secret] = importedCertificate{resourceVersion: sec.ResourceVersion, arn: arn}
	s.mu.Unlock()
	return arn, nil
}

// Release deletes from kelb's certificate store the certificates imported
// (or found) for Secrets that keep does not name: keep holds the
// "<namespace>/<name>" of every TLS Secret the user of s still names.
// A certificate a listener still uses is kept (kelb server answers
// ResourceInUseException) and tried again on a later call; one already
// gone is forgotten. Release knows only the certificates resolved since
// the controller started: one left behind across a restart stays in the
// store until deleted by hand (aws acm delete-certificate).
func (s *SecretCertificates) Release(ctx context.Context, keep map[string]bool) error {
	s.mu.Lock()
	release := map[string]string{}
	for secret, c := range s.imported {
		if !keep[secret] {
			release[secret] = c.arn
		}
	}
	s.mu.Unlock()
	var errs []error
	for secret, arn := range release {
		_, err := s.ACM.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: aws.String(arn)})
		var inUse *acmtypes.ResourceInUseException
		var notFound *acmtypes.ResourceNotFoundException
		switch {
		case errors.As(err, &inUse):
			continue
		case err != nil && !errors.As(err, &notFound):
			errs = append(errs, fmt.Errorf("delete certificate %s of secret %s: %w", arn, secret, err))
			continue
		}
		s.mu.Lock()
		if s.imported[secret].arn == arn {
			delete(s.imported, secret)
		}
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// find returns the ARN of a certificate in the store whose PEM is certPEM,
// "" when there is none.
func (s *SecretCertificates) find(ctx context.Context, certPEM []byte) (string, error) {
	want, err := pemBlocks(certPEM)
	if err != nil {
		return "", err
	}
	// Every key type: without Includes, ACM lists RSA certificates only.
	pages := acm.NewListCertificatesPaginator(s.ACM, &acm.ListCertificatesInput{Includes: &acmtypes.Filters{KeyTypes: acmtypes.KeyAlgorithm("").Values()}})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("list certificates: %w", err)
		}
		for _, c := range page.CertificateSummaryList {
			got, err := s.ACM.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: c.CertificateArn})
			if err != nil {
				return "", fmt.Errorf("get certificate %s: %w", aws.ToString(c.CertificateArn), err)
			}
			have, err := pemBlocks([]byte(aws.ToString(got.Certificate)))
			if err == nil && len(have) == 1 && bytes.Equal(have[0].Bytes, want[0].Bytes) {
				return aws.ToString(c.CertificateArn), nil
			}
		}
	}
	return "", nil
}

func pemBlocks(data []byte) ([]*pem.Block, error) {
	var out []*pem.Block
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no PEM certificate")
	}
	return out, nil
}

// splitChain splits a tls.crt into its leaf certificate and the chain
// after it, both PEM.
func splitChain(data []byte) (leaf, chain []byte, err error) {
	blocks, err := pemBlocks(data)
	if err != nil {
		return nil, nil, err
	}
	leaf = pem.EncodeToMemory(blocks[0])
	for _, b := range blocks[1:] {
		chain = append(chain, pem.EncodeToMemory(b)...)
	}
	return leaf, chain, nil
}

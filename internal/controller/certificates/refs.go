package certificates

import (
	"context"
	"fmt"

	"github.com/kelb-io/kelb/internal/controller/model"
)

// Resolver turns a TLS Secret ("<namespace>/<name>") into the ARN of its
// certificate in kelb's certificate store, importing it when needed;
// *SecretCertificates is one.
type Resolver interface {
	Resolve(ctx context.Context, secret string) (string, error)
}

var _ Resolver = (*SecretCertificates)(nil)

// ARNs resolves certificates given by ARN or TLS Secret to certificate
// ARNs, in order. A Secret without a resolver, or one that cannot be
// imported, is an error naming it; so is a certificate to discover or
// request, which only an Ingress's deploy resolves.
func ARNs(ctx context.Context, r Resolver, refs []model.Certificate) ([]string, error) {
	out := make([]string, 0, len(refs))
	for _, c := range refs {
		if c.ARN != "" {
			out = append(out, c.ARN)
			continue
		}
		if c.Secret == "" {
			return nil, fmt.Errorf("certificate %s: only a certificate ARN or a TLS Secret can be used here", c.Key())
		}
		if r == nil {
			return nil, fmt.Errorf("TLS Secret %s cannot be used: no certificate store configured", c.Secret)
		}
		arn, err := r.Resolve(ctx, c.Secret)
		if err != nil {
			return nil, fmt.Errorf("certificate from TLS Secret %s: %w", c.Secret, err)
		}
		out = append(out, arn)
	}
	return out, nil
}

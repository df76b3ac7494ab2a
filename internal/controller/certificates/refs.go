package certificates

import (
	"context"
	"fmt"
)

// Ref names a listener certificate in a desired stack: an ARN given by
// annotation, or a Kubernetes TLS Secret ("<namespace>/<name>") that
// deploy imports into kelb's certificate store.
type Ref struct {
	ARN    string `json:"arn,omitempty"`
	Secret string `json:"secret,omitempty"`
}

// Resolver turns a TLS Secret ("<namespace>/<name>") into the ARN of its
// certificate in kelb's certificate store, importing it when needed;
// *SecretCertificates is one.
type Resolver interface {
	Resolve(ctx context.Context, secret string) (string, error)
}

var _ Resolver = (*SecretCertificates)(nil)

// ARNs resolves refs to certificate ARNs, in order. A Secret without a
// resolver, or one that cannot be imported, is an error naming it.
func ARNs(ctx context.Context, r Resolver, refs []Ref) ([]string, error) {
	out := make([]string, 0, len(refs))
	for _, c := range refs {
		if c.ARN != "" {
			out = append(out, c.ARN)
			continue
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

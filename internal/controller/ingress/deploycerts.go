package ingress

import (
	"context"
	"fmt"
	"slices"

	"github.com/kelb-io/kelb/internal/controller/certificates"
)

// resolveCertificates resolves the certificates of every listener of st to
// ARNs, by port, and returns the ARNs of the certificates requested for it
// (create-acm-cert) besides.
func (d *Deployer) resolveCertificates(ctx context.Context, st *Stack) (map[int32][]string, map[string]bool, error) {
	byPort := map[int32][]string{}
	requested := map[string]bool{}
	for _, l := range st.Listeners {
		var arns []string
		add := func(arn string) {
			if !slices.Contains(arns, arn) {
				arns = append(arns, arn)
			}
		}
		for _, c := range l.Certificates {
			switch {
			case c.ARN != "":
				add(c.ARN)
			case c.Secret != "":
				if d.Certificates == nil {
					return nil, nil, fmt.Errorf("listener %d: TLS Secret %s cannot be used: no certificate store configured", l.Port, c.Secret)
				}
				arn, err := d.Certificates.Resolve(ctx, c.Secret)
				if err != nil {
					return nil, nil, fmt.Errorf("listener %d: certificate from TLS Secret %s: %w", l.Port, c.Secret, err)
				}
				add(arn)
			case d.ACM == nil:
				return nil, nil, fmt.Errorf("listener %d: certificates cannot be discovered or requested: no certificate store configured", l.Port)
			case c.Discover != nil:
				found, err := (&certificates.Discovery{ACM: d.ACM}).Discover(ctx, c.Discover, []string{TagCluster, TagStack})
				if err != nil {
					return nil, nil, fmt.Errorf("listener %d: certificate discovery: %w", l.Port, err)
				}
				for _, arn := range found {
					add(arn)
				}
			case c.Request != nil:
				arn, err := (&certificates.Requested{ACM: d.ACM}).Ensure(ctx, certificates.Request{
					DomainName: c.Request.DomainName, SubjectAlternativeNames: c.Request.SubjectAlternativeNames, Tags: c.Request.Tags,
				}, d.requestIdentity(st.ID, c.Request.ResourceID))
				if err != nil {
					return nil, nil, fmt.Errorf("listener %d: %s: %w", l.Port, AnnotationCreateACMCert, err)
				}
				requested[arn] = true
				add(arn)
			}
		}
		byPort[l.Port] = arns
	}
	return byPort, requested, nil
}

// requestIdentity is the tags that find the certificate requested for
// resource of stack again.
func (d *Deployer) requestIdentity(stack, resource string) map[string]string {
	tags := d.stackTags(stack)
	tags[TagResource] = resource
	return tags
}

func (d *Deployer) stackTags(stack string) map[string]string {
	tags := map[string]string{TagStack: stack}
	if d.ClusterName != "" {
		tags[TagCluster] = d.ClusterName
	}
	return tags
}

// releaseRequested deletes the certificates requested for stack that keep
// does not hold (nil: all of them, the stack is gone).
func (d *Deployer) releaseRequested(ctx context.Context, stack string, keep map[string]bool) error {
	if d.ACM == nil {
		return nil
	}
	if err := (&certificates.Requested{ACM: d.ACM}).Release(ctx, d.stackTags(stack), keep); err != nil {
		return fmt.Errorf("release certificates requested for %s: %w", stack, err)
	}
	return nil
}

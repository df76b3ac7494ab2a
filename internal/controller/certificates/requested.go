package certificates

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
)

// Request is a certificate the controller has kelb server issue for an
// Ingress (alb.ingress.kubernetes.io/create-acm-cert).
type Request struct {
	DomainName              string
	SubjectAlternativeNames []string // DomainName among them
	// Tags go on the certificate: the stack's tags, the resource tag that
	// tells the Ingress's certificate apart in its stack, and the user's.
	Tags map[string]string
}

// Requested keeps the certificates the controller requests in kelb's
// certificate store: found again by their tags on every call, so the
// controller keeps no state and a restarted one reuses what exists.
type Requested struct {
	ACM CertificateStore
}

// Ensure returns the ARN of the certificate for req: one in the store that
// carries every tag of identity and has req's names, else one requested
// now (kelb server issues it at once). A certificate with the same
// identity but other names is left for Release, as the AWS Load Balancer
// Controller replaces one whose names changed.
func (r *Requested) Ensure(ctx context.Context, req Request, identity map[string]string) (string, error) {
	owned, err := r.owned(ctx, identity)
	if err != nil {
		return "", err
	}
	want := slices.Sorted(slices.Values(req.SubjectAlternativeNames))
	for _, c := range owned {
		if c.Status != acmtypes.CertificateStatusIssued && c.Status != acmtypes.CertificateStatusPendingValidation {
			continue
		}
		if slices.Equal(slices.Sorted(slices.Values(c.SubjectAlternativeNameSummaries)), want) {
			return aws.ToString(c.CertificateArn), nil
		}
	}
	in := &acm.RequestCertificateInput{
		DomainName:              aws.String(req.DomainName),
		SubjectAlternativeNames: req.SubjectAlternativeNames,
		ValidationMethod:        acmtypes.ValidationMethodDns,
	}
	for _, k := range slices.Sorted(maps.Keys(req.Tags)) {
		in.Tags = append(in.Tags, acmtypes.Tag{Key: aws.String(k), Value: aws.String(req.Tags[k])})
	}
	out, err := r.ACM.RequestCertificate(ctx, in)
	if err != nil {
		return "", fmt.Errorf("request certificate for %s: %w", req.DomainName, err)
	}
	return aws.ToString(out.CertificateArn), nil
}

// Release deletes the certificates carrying every tag of stack whose ARN
// keep does not hold: those of Ingresses that no longer ask for one, or
// replaced because their names changed. One a listener still uses
// (ResourceInUseException) is kept for a later call; one already gone is
// fine.
func (r *Requested) Release(ctx context.Context, stack map[string]string, keep map[string]bool) error {
	owned, err := r.owned(ctx, stack)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range owned {
		arn := aws.ToString(c.CertificateArn)
		if keep[arn] {
			continue
		}
		_, err := r.ACM.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: c.CertificateArn})
		var inUse *acmtypes.ResourceInUseException
		var notFound *acmtypes.ResourceNotFoundException
		if err != nil && !errors.As(err, &inUse) && !errors.As(err, &notFound) {
			errs = append(errs, fmt.Errorf("delete certificate %s: %w", arn, err))
		}
	}
	return errors.Join(errs...)
}

// owned lists the certificates carrying every tag of tags.
func (r *Requested) owned(ctx context.Context, tags map[string]string) ([]acmtypes.CertificateSummary, error) {
	all, err := listCertificates(ctx, r.ACM, nil)
	if err != nil {
		return nil, err
	}
	var out []acmtypes.CertificateSummary
	for _, c := range all {
		have, err := tagsOf(ctx, r.ACM, aws.ToString(c.CertificateArn))
		if err != nil {
			return nil, err
		}
		match := true
		for k, v := range tags {
			if have[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, c)
		}
	}
	return out, nil
}

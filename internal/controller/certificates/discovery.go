package certificates

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
)

// CertificateStore is the part of the aws-sdk-go-v2 acm client that
// Discovery and Requested use; *acm.Client, pointed at kelb server,
// implements it.
type CertificateStore interface {
	acm.ListCertificatesAPIClient
	acm.DescribeCertificateAPIClient
	ListTagsForCertificate(context.Context, *acm.ListTagsForCertificateInput, ...func(*acm.Options)) (*acm.ListTagsForCertificateOutput, error)
	RequestCertificate(context.Context, *acm.RequestCertificateInput, ...func(*acm.Options)) (*acm.RequestCertificateOutput, error)
	DeleteCertificate(context.Context, *acm.DeleteCertificateInput, ...func(*acm.Options)) (*acm.DeleteCertificateOutput, error)
}

var _ CertificateStore = (*acm.Client)(nil)

// Client is all the certificates package uses of the acm client.
type Client interface {
	ACM
	CertificateStore
}

// NoCertificateError is Discover's error for a host no certificate covers.
type NoCertificateError struct {
	Host string
}

func (e *NoCertificateError) Error() string { return "no certificate found for host: " + e.Host }

// Discovery finds certificates in kelb's certificate store by the hosts
// they must serve, as the AWS Load Balancer Controller's certificate
// discovery does for an Ingress with HTTPS listeners and no
// certificate-arn.
type Discovery struct {
	ACM CertificateStore
}

// Discover returns the ARNs, sorted, of the ISSUED certificates (of any
// key type) whose names cover one of hosts; a host that none covers is a
// *NoCertificateError naming it. Every covering certificate is returned,
// not one per host: as the AWS Load Balancer Controller does, a listener
// gets them all and picks one by SNI. Certificates carrying every key of
// skipTagKeys (those the controller requested for an Ingress, by their
// stack tags) are left out.
func (d *Discovery) Discover(ctx context.Context, hosts []string, skipTagKeys []string) ([]string, error) {
	candidates, err := listCertificates(ctx, d.ACM, []acmtypes.CertificateStatus{acmtypes.CertificateStatusIssued})
	if err != nil {
		return nil, err
	}
	names := map[string][]string{}
	for _, c := range candidates {
		arn := aws.ToString(c.CertificateArn)
		if len(skipTagKeys) > 0 {
			tags, err := tagsOf(ctx, d.ACM, arn)
			if err != nil {
				return nil, err
			}
			if hasKeys(tags, skipTagKeys) {
				continue
			}
		}
		n := c.SubjectAlternativeNameSummaries
		if aws.ToBool(c.HasAdditionalSubjectAlternativeNames) {
			out, err := d.ACM.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: c.CertificateArn})
			if err != nil {
				return nil, fmt.Errorf("describe certificate %s: %w", arn, err)
			}
			n = out.Certificate.SubjectAlternativeNames
		}
		names[arn] = append(slices.Clone(n), aws.ToString(c.DomainName))
	}
	arns, uncovered := Covering(names, hosts)
	if uncovered != "" {
		return nil, &NoCertificateError{Host: uncovered}
	}
	return arns, nil
}

// Covering returns the ARNs, sorted, of the certificates (names by ARN)
// that cover one of hosts, and the first host none covers ("" when every
// host is covered).
func Covering(names map[string][]string, hosts []string) (arns []string, uncovered string) {
	for _, host := range hosts {
		found := false
		for arn, ns := range names {
			if slices.ContainsFunc(ns, func(n string) bool { return NameCoversHost(n, host) }) {
				found = true
				if !slices.Contains(arns, arn) {
					arns = append(arns, arn)
				}
			}
		}
		if !found && uncovered == "" {
			uncovered = host
		}
	}
	slices.Sort(arns)
	return arns, uncovered
}

// NameCoversHost reports whether a certificate name covers host: the same
// name (case aside), or a wildcard "*.example.com" for a host with one
// more label, "app.example.com", and no more.
func NameCoversHost(name, host string) bool {
	name, host = strings.ToLower(name), strings.ToLower(host)
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		_, hostRest, ok := strings.Cut(host, ".")
		return ok && hostRest == rest
	}
	return name == host
}

// listCertificates lists the certificates of every key type with one of
// statuses (every status when nil).
func listCertificates(ctx context.Context, c acm.ListCertificatesAPIClient, statuses []acmtypes.CertificateStatus) ([]acmtypes.CertificateSummary, error) {
	var out []acmtypes.CertificateSummary
	pages := acm.NewListCertificatesPaginator(c, &acm.ListCertificatesInput{CertificateStatuses: statuses,
		Includes: &acmtypes.Filters{KeyTypes: acmtypes.KeyAlgorithm("").Values()}})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list certificates: %w", err)
		}
		out = append(out, page.CertificateSummaryList...)
	}
	return out, nil
}

func tagsOf(ctx context.Context, c CertificateStore, arn string) (map[string]string, error) {
	out, err := c.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("list tags of certificate %s: %w", arn, err)
	}
	tags := map[string]string{}
	for _, t := range out.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return tags, nil
}

func hasKeys(tags map[string]string, keys []string) bool {
	for _, k := range keys {
		if _, ok := tags[k]; !ok {
			return false
		}
	}
	return true
}

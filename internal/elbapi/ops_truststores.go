package elbapi

import (
	"context"
	"fmt"
	"strconv"

	"github.com/kelb-io/kelb/internal/elb"
)

// trustStoreOps answer the trust store operations (package elb's
// truststores.go). The two that hand out S3 locations,
// GetTrustStoreCaCertificatesBundle and GetTrustStoreRevocationContent,
// answer a URL on the endpoint the request came to, presigned with the
// caller's key (PresignedURL), which kelb's S3 API serves.
func trustStoreOps(o *ops) map[string]OpFunc {
	return map[string]OpFunc{
		"CreateTrustStore":                  o.createTrustStore,
		"ModifyTrustStore":                  o.modifyTrustStore,
		"DescribeTrustStores":               o.describeTrustStores,
		"DeleteTrustStore":                  o.deleteTrustStore,
		"AddTrustStoreRevocations":          o.addTrustStoreRevocations,
		"RemoveTrustStoreRevocations":       o.removeTrustStoreRevocations,
		"DescribeTrustStoreRevocations":     o.describeTrustStoreRevocations,
		"DescribeTrustStoreAssociations":    o.describeTrustStoreAssociations,
		"DeleteSharedTrustStoreAssociation": o.deleteSharedTrustStoreAssociation,
		"GetTrustStoreCaCertificatesBundle": o.getTrustStoreCaCertificatesBundle,
		"GetTrustStoreRevocationContent":    o.getTrustStoreRevocationContent,
	}
}

type xTrustStore struct {
	Name                   string
	TrustStoreArn          string
	Status                 string
	NumberOfCaCertificates int32
	TotalRevokedEntries    int64
}

type trustStoresResult struct {
	TrustStores List[xTrustStore]
	NextMarker  string `xml:",omitempty"`
}

func encodeTrustStore(ts elb.TrustStore) xTrustStore {
	return xTrustStore{Name: ts.Name, TrustStoreArn: ts.ARN, Status: ts.Status,
		NumberOfCaCertificates: ts.NumberOfCaCertificates, TotalRevokedEntries: ts.TotalRevokedEntries}
}

func bundleObject(p Params) elb.S3Object {
	return elb.S3Object{
		Bucket:  p.String("CaCertificatesBundleS3Bucket"),
		Key:     p.String("CaCertificatesBundleS3Key"),
		Version: p.String("CaCertificatesBundleS3ObjectVersion"),
	}
}

func (o *ops) createTrustStore(ctx context.Context, p Params) (any, error) {
	ts, err := o.svc.CreateTrustStore(ctx, elb.CreateTrustStoreInput{Name: p.String("Name"), Bundle: bundleObject(p), Tags: decodeTags(p, "Tags")})
	if err != nil {
		return nil, err
	}
	return trustStoresResult{TrustStores: List[xTrustStore]{encodeTrustStore(ts)}}, nil
}

func (o *ops) modifyTrustStore(ctx context.Context, p Params) (any, error) {
	ts, err := o.svc.ModifyTrustStore(ctx, p.String("TrustStoreArn"), bundleObject(p))
	if err != nil {
		return nil, err
	}
	return trustStoresResult{TrustStores: List[xTrustStore]{encodeTrustStore(ts)}}, nil
}

func (o *ops) describeTrustStores(ctx context.Context, p Params) (any, error) {
	all, err := o.svc.DescribeTrustStores(ctx, p.StringList("TrustStoreArns"), p.StringList("Names"))
	if err != nil {
		return nil, err
	}
	page, next, err := Paginate(all, p, func(ts elb.TrustStore) string { return ts.ARN })
	if err != nil {
		return nil, err
	}
	out := trustStoresResult{TrustStores: List[xTrustStore]{}, NextMarker: next}
	for _, ts := range page {
		out.TrustStores = append(out.TrustStores, encodeTrustStore(ts))
	}
	return out, nil
}

func (o *ops) deleteTrustStore(ctx context.Context, p Params) (any, error) {
	return nil, o.svc.DeleteTrustStore(ctx, p.String("TrustStoreArn"))
}

type xRevocation struct {
	TrustStoreArn          string
	RevocationId           int64
	RevocationType         string
	NumberOfRevokedEntries int64
}

type revocationsResult struct {
	TrustStoreRevocations List[xRevocation]
	NextMarker            string `xml:",omitempty"`
}

func encodeRevocations(revs []elb.TrustStoreRevocation) List[xRevocation] {
	out := List[xRevocation]{}
	for _, r := range revs {
		out = append(out, xRevocation{TrustStoreArn: r.TrustStoreARN, RevocationId: r.RevocationID,
			RevocationType: r.RevocationType, NumberOfRevokedEntries: r.NumberOfRevokedEntries})
	}
	return out
}

func (o *ops) addTrustStoreRevocations(ctx context.Context, p Params) (any, error) {
	var in []elb.RevocationInput
	for _, m := range p.StructList("RevocationContents") {
		in = append(in, elb.RevocationInput{
			Object: elb.S3Object{Bucket: m.String("S3Bucket"), Key: m.String("S3Key"), Version: m.String("S3ObjectVersion")},
			Type:   m.String("RevocationType"),
		})
	}
	revs, err := o.svc.AddTrustStoreRevocations(ctx, p.String("TrustStoreArn"), in)
	if err != nil {
		return nil, err
	}
	return revocationsResult{TrustStoreRevocations: encodeRevocations(revs)}, nil
}

func revocationIDs(p Params) ([]int64, error) {
	var out []int64
	for _, s := range p.StringList("RevocationIds") {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, ValidationError("Revocation ID '%s' is not a number", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func (o *ops) describeTrustStoreRevocations(ctx context.Context, p Params) (any, error) {
	ids, err := revocationIDs(p)
	if err != nil {
		return nil, err
	}
	revs, err := o.svc.DescribeTrustStoreRevocations(ctx, p.String("TrustStoreArn"), ids)
	if err != nil {
		return nil, err
	}
	page, next, err := Paginate(revs, p, func(r elb.TrustStoreRevocation) string { return fmt.Sprintf("%020d", r.RevocationID) })
	if err != nil {
		return nil, err
	}
	return revocationsResult{TrustStoreRevocations: encodeRevocations(page), NextMarker: next}, nil
}

func (o *ops) removeTrustStoreRevocations(ctx context.Context, p Params) (any, error) {
	ids, err := revocationIDs(p)
	if err != nil {
		return nil, err
	}
	return nil, o.svc.RemoveTrustStoreRevocations(ctx, p.String("TrustStoreArn"), ids)
}

type xAssociation struct {
	ResourceArn string
}

func (o *ops) describeTrustStoreAssociations(ctx context.Context, p Params) (any, error) {
	arns, err := o.svc.DescribeTrustStoreAssociations(ctx, p.String("TrustStoreArn"))
	if err != nil {
		return nil, err
	}
	page, next, err := Paginate(arns, p, func(a string) string { return a })
	if err != nil {
		return nil, err
	}
	out := struct {
		TrustStoreAssociations List[xAssociation]
		NextMarker             string `xml:",omitempty"`
	}{TrustStoreAssociations: List[xAssociation]{}, NextMarker: next}
	for _, a := range page {
		out.TrustStoreAssociations = append(out.TrustStoreAssociations, xAssociation{ResourceArn: a})
	}
	return out, nil
}

func (o *ops) deleteSharedTrustStoreAssociation(ctx context.Context, p Params) (any, error) {
	return nil, o.svc.DeleteSharedTrustStoreAssociation(ctx, p.String("TrustStoreArn"), p.String("ResourceArn"))
}

type locationResult struct {
	Location string
}

func (o *ops) getTrustStoreCaCertificatesBundle(ctx context.Context, p Params) (any, error) {
	arn := p.String("TrustStoreArn")
	if err := o.svc.CheckTrustStore(ctx, arn); err != nil {
		return nil, err
	}
	u, err := PresignedURL(ctx, DocumentPathPrefix+elb.TrustStoreDocumentPath(arn, 0))
	if err != nil {
		return nil, err
	}
	return locationResult{Location: u}, nil
}

func (o *ops) getTrustStoreRevocationContent(ctx context.Context, p Params) (any, error) {
	arn := p.String("TrustStoreArn")
	id, err := strconv.ParseInt(p.String("RevocationId"), 10, 64)
	if err != nil {
		return nil, ValidationError("Revocation ID '%s' is not a number", p.String("RevocationId"))
	}
	if err := o.svc.CheckTrustStoreRevocation(ctx, arn, id); err != nil {
		return nil, err
	}
	u, err := PresignedURL(ctx, DocumentPathPrefix+elb.TrustStoreDocumentPath(arn, id))
	if err != nil {
		return nil, err
	}
	return locationResult{Location: u}, nil
}

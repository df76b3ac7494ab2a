package elbapi

import (
	"context"

	"github.com/kelb-io/kelb/internal/elb"
)

// trustStoreOps answer the trust store operations: kelb can hold no trust
// store (package elb's truststores.go says why), so creating one fails
// after validation, listing returns none, and the operations on a trust
// store ARN answer TrustStoreNotFound.
func trustStoreOps(o *ops) map[string]OpFunc {
	notFound := func(_ context.Context, p Params) (any, error) {
		return nil, elb.TrustStoreNotFound(p.String("TrustStoreArn"))
	}
	return map[string]OpFunc{
		"CreateTrustStore":                  o.createTrustStore,
		"ModifyTrustStore":                  notFound,
		"DescribeTrustStores":               o.describeTrustStores,
		"DeleteTrustStore":                  notFound,
		"AddTrustStoreRevocations":          notFound,
		"RemoveTrustStoreRevocations":       notFound,
		"DescribeTrustStoreRevocations":     notFound,
		"DescribeTrustStoreAssociations":    notFound,
		"DeleteSharedTrustStoreAssociation": notFound,
		"GetTrustStoreCaCertificatesBundle": notFound,
		"GetTrustStoreRevocationContent":    notFound,
	}
}

func (o *ops) createTrustStore(ctx context.Context, p Params) (any, error) {
	return nil, o.svc.CreateTrustStore(ctx, elb.CreateTrustStoreInput{
		Name:     p.String("Name"),
		S3Bucket: p.String("CaCertificatesBundleS3Bucket"),
		S3Key:    p.String("CaCertificatesBundleS3Key"),
		Tags:     decodeTags(p, "Tags"),
	})
}

type describeTrustStoresResult struct {
	TrustStores List[struct{}]
}

func (o *ops) describeTrustStores(ctx context.Context, p Params) (any, error) {
	if err := o.svc.DescribeTrustStores(ctx, p.StringList("TrustStoreArns"), p.StringList("Names")); err != nil {
		return nil, err
	}
	return describeTrustStoresResult{TrustStores: List[struct{}]{}}, nil
}

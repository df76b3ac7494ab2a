package elb

import (
	"context"
	"fmt"
	"strings"
)

// Trust stores hold the CA bundles of mutual TLS; ELBv2 reads a bundle
// from an S3 object. kelb has no S3, so no trust store can be created:
// CreateTrustStore and ModifyTrustStore validate their input and then
// answer CaCertificatesBundleNotFound for the object kelb cannot read,
// DescribeTrustStores lists none, and every operation on a trust store
// ARN answers TrustStoreNotFound. Nothing is stored.

// CreateTrustStoreInput is the input of CreateTrustStore.
type CreateTrustStoreInput struct {
	Name     string
	S3Bucket string
	S3Key    string
	Tags     []Tag
}

func bundleNotFound(in CreateTrustStoreInput) *Error {
	return errorf("CaCertificatesBundleNotFound", "The CA certificates bundle s3://%s/%s cannot be read: kelb has no S3, so it cannot create trust stores or serve mutual TLS with one", in.S3Bucket, in.S3Key)
}

// CreateTrustStore validates a trust store request as ELBv2 does and
// fails with CaCertificatesBundleNotFound.
func (s *Service) CreateTrustStore(ctx context.Context, in CreateTrustStoreInput) error {
	if err := validateName("Trust store", in.Name); err != nil {
		return fmt.Errorf("create trust store %s: %w", in.Name, err)
	}
	if err := checkNewTags(in.Tags); err != nil {
		return fmt.Errorf("create trust store %s: %w", in.Name, err)
	}
	return fmt.Errorf("create trust store %s: %w", in.Name, bundleNotFound(in))
}

// TrustStoreNotFound is the answer of every operation on a trust store.
func TrustStoreNotFound(arn string) error {
	return errorf("TrustStoreNotFound", "Trust store '%s' not found", arn)
}

// DescribeTrustStores lists no trust store; asking for one by ARN or name
// fails with TrustStoreNotFound.
func (s *Service) DescribeTrustStores(ctx context.Context, arns, names []string) error {
	if len(arns) > 0 && len(names) > 0 {
		return validationf("Trust store names and trust store ARNs cannot be specified at the same time")
	}
	switch {
	case len(arns) > 0:
		return TrustStoreNotFound(arns[0])
	case len(names) > 0:
		return errorf("TrustStoreNotFound", "Trust stores '[%s]' not found", strings.Join(names, ", "))
	}
	return nil
}

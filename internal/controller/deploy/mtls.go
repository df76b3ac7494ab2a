package deploy

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/kelb-io/kelb/internal/controller/model"
)

// sdkMutualAuthentication returns the listener's mutual TLS as the API
// takes it (its trust store resolved to an ARN by resolve); nil when the
// stack does not set it.
func sdkMutualAuthentication(want *model.MutualAuthentication) *types.MutualAuthenticationAttributes {
	if want == nil {
		return nil
	}
	out := &types.MutualAuthenticationAttributes{Mode: aws.String(want.Mode), IgnoreClientCertificateExpiry: want.IgnoreClientCertificateExpiry}
	if want.AdvertiseTrustStoreCaNames != nil {
		out.AdvertiseTrustStoreCaNames = types.AdvertiseTrustStoreCaNamesEnum(*want.AdvertiseTrustStoreCaNames)
	}
	if want.TrustStore != "" {
		out.TrustStoreArn = aws.String(want.TrustStore)
	}
	return out
}

// trustStoreARN resolves the trust store of a listener's mutual TLS, a
// name or an ARN, to its ARN with DescribeTrustStores.
func (d *Deployer) trustStoreARN(ctx context.Context, want *model.MutualAuthentication) (string, error) {
	if want.TrustStore == "" || strings.HasPrefix(want.TrustStore, "arn:") {
		return want.TrustStore, nil
	}
	ts, err := d.Client.DescribeTrustStores(ctx, &elbv2.DescribeTrustStoresInput{Names: []string{want.TrustStore}})
	if err != nil {
		return "", fmt.Errorf("listener %d: trust store %q of %s: %w", want.Port, want.TrustStore, d.Frontend.MutualAuthenticationFrom, err)
	}
	if len(ts.TrustStores) != 1 {
		return "", fmt.Errorf("listener %d: trust store %q of %s: %d trust stores have that name", want.Port, want.TrustStore, d.Frontend.MutualAuthenticationFrom, len(ts.TrustStores))
	}
	return aws.ToString(ts.TrustStores[0].TrustStoreArn), nil
}

// mutualAuthenticationDiffers reports whether a listener's mutual TLS, as
// DescribeListeners reports it, differs from what the stack asks for.
func mutualAuthenticationDiffers(want, have *types.MutualAuthenticationAttributes) bool {
	if want == nil {
		return false
	}
	mode := func(m *types.MutualAuthenticationAttributes) string {
		if m == nil || aws.ToString(m.Mode) == "" {
			return "off"
		}
		return aws.ToString(m.Mode)
	}
	if mode(want) != mode(have) {
		return true
	}
	if mode(want) != "verify" {
		return false
	}
	adv := func(m *types.MutualAuthenticationAttributes) types.AdvertiseTrustStoreCaNamesEnum {
		if m.AdvertiseTrustStoreCaNames == "" {
			return types.AdvertiseTrustStoreCaNamesEnumOff
		}
		return m.AdvertiseTrustStoreCaNames
	}
	return aws.ToString(want.TrustStoreArn) != aws.ToString(have.TrustStoreArn) ||
		aws.ToBool(want.IgnoreClientCertificateExpiry) != aws.ToBool(have.IgnoreClientCertificateExpiry) ||
		adv(want) != adv(have)
}

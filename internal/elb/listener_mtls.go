package elb

import (
	"github.com/kelb-io/kelb/internal/elb/store"
)

// Mutual authentication modes of HTTPS listeners.
const (
	MutualAuthOff         = "off"
	MutualAuthPassthrough = "passthrough"
	MutualAuthVerify      = "verify"
)

// MutualAuthentication is an HTTPS listener's mutual TLS: in passthrough
// mode the listener asks for a client certificate and hands it to the
// targets unverified; in verify mode the client must present one that
// chains to the trust store.
type MutualAuthentication struct {
	Mode                          string
	TrustStoreARN                 string `json:",omitempty"`
	IgnoreClientCertificateExpiry bool   `json:",omitempty"`
	// AdvertiseTrustStoreCaNames is "on" or "off" (verify mode).
	AdvertiseTrustStoreCaNames string `json:",omitempty"`
}

// MutualAuthenticationInput is the MutualAuthentication of a
// CreateListener or ModifyListener request; nil pointers were not sent.
type MutualAuthenticationInput struct {
	Mode                          string
	TrustStoreARN                 string
	IgnoreClientCertificateExpiry *bool
	AdvertiseTrustStoreCaNames    string
}

// checkMutualAuthentication validates a listener's mutual authentication
// request as ELBv2 does and returns what the listener stores: nil for mode
// off.
func checkMutualAuthentication(tx store.ReadTx, protocol string, in *MutualAuthenticationInput) (*MutualAuthentication, error) {
	if in == nil {
		return nil, nil
	}
	mode := in.Mode
	if mode == "" {
		mode = MutualAuthOff
	}
	switch mode {
	case MutualAuthOff, MutualAuthPassthrough, MutualAuthVerify:
	default:
		return nil, validationf("Mutual authentication mode '%s' is not valid; valid modes are off, passthrough and verify", in.Mode)
	}
	if protocol != "HTTPS" {
		if mode == MutualAuthOff {
			return nil, nil
		}
		return nil, errorf(CodeInvalidConfigurationRequest, "Mutual authentication is only supported for HTTPS listeners")
	}
	if mode != MutualAuthVerify {
		switch {
		case in.TrustStoreARN != "":
			return nil, errorf(CodeInvalidConfigurationRequest, "A trust store cannot be specified in mutual authentication mode '%s'", mode)
		case in.IgnoreClientCertificateExpiry != nil && *in.IgnoreClientCertificateExpiry:
			return nil, errorf(CodeInvalidConfigurationRequest, "Ignoring client certificate expiry is only supported in mutual authentication mode 'verify'")
		case in.AdvertiseTrustStoreCaNames == "on":
			return nil, errorf(CodeInvalidConfigurationRequest, "Advertising trust store CA names is only supported in mutual authentication mode 'verify'")
		}
		if mode == MutualAuthOff {
			return nil, nil
		}
		return &MutualAuthentication{Mode: mode}, nil
	}
	if in.TrustStoreARN == "" {
		return nil, validationf("A trust store must be specified in mutual authentication mode 'verify'")
	}
	if _, err := getTrustStore(tx, in.TrustStoreARN); err != nil {
		return nil, err
	}
	adv := in.AdvertiseTrustStoreCaNames
	switch adv {
	case "":
		adv = "off"
	case "on", "off":
	default:
		return nil, validationf("AdvertiseTrustStoreCaNames must be 'on' or 'off', not '%s'", adv)
	}
	m := &MutualAuthentication{Mode: mode, TrustStoreARN: in.TrustStoreARN, AdvertiseTrustStoreCaNames: adv}
	if in.IgnoreClientCertificateExpiry != nil {
		m.IgnoreClientCertificateExpiry = *in.IgnoreClientCertificateExpiry
	}
	return m, nil
}

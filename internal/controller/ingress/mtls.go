package ingress

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Mutual TLS of HTTPS listeners: the AWS Load Balancer Controller's
// mutual-authentication annotation, a JSON list of
//
//	{"port": 443, "mode": "off"|"passthrough"|"verify",
//	 "trustStore": "<name or ARN>", "ignoreClientCertificateExpiry": bool,
//	 "advertiseTrustStoreCaNames": "on"|"off"}
//
// read as that controller reads it: verify needs a trust store, off and
// passthrough take none and no expiry or CA-names setting, and
// ignoreClientCertificateExpiry defaults to false in verify mode. An
// entry applies to the HTTPS listen port it names (others are not
// touched); a port with no entry keeps whatever its listener has, so
// turning mutual TLS off takes an explicit mode off. A trust store given
// by name is resolved to its ARN with DescribeTrustStores at deploy time.

// parseMutualAuthentication reads the mutual-authentication annotation
// into its entries by port; nil when the annotation is absent.
func parseMutualAuthentication(ann annotations) (map[int32]*MutualAuthentication, error) {
	key := AnnotationMutualAuthentication
	var entries []MutualAuthentication
	ok, err := ann.JSON(key, &entries)
	if !ok || err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, ann.Fail(key, "empty mutualAuthentication configuration")
	}
	out := make(map[int32]*MutualAuthentication, len(entries))
	for _, e := range entries {
		if err := checkMutualAuthentication(e); err != nil {
			return nil, ann.Fail(key, err.Error())
		}
		if _, dup := out[e.Port]; dup {
			return nil, ann.Fail(key, fmt.Sprintf("port %d is listed twice", e.Port))
		}
		if e.Mode == "verify" && e.IgnoreClientCertificateExpiry == nil {
			e.IgnoreClientCertificateExpiry = aws.Bool(false)
		}
		out[e.Port] = &e
	}
	return out, nil
}

// checkMutualAuthentication validates one entry as the AWS Load Balancer
// Controller does, with its messages.
func checkMutualAuthentication(e MutualAuthentication) error {
	modes := []string{"off", "passthrough", "verify"}
	switch {
	case e.Port < 1 || e.Port > 65535:
		return fmt.Errorf("listen port must be within [1, 65535]: %d", e.Port)
	case e.Mode == "":
		return fmt.Errorf("mutualAuthentication mode cannot be empty for port %d", e.Port)
	case !slices.Contains(modes, e.Mode):
		return fmt.Errorf("mutualAuthentication mode value must be among [%s] for port %d: %s", strings.Join(modes, ", "), e.Port, e.Mode)
	case e.Mode == "verify" && e.TrustStore == "":
		return fmt.Errorf("trustStore is required when mutualAuthentication mode is verify for port %d", e.Port)
	case e.Mode != "verify" && e.TrustStore != "":
		return fmt.Errorf("mutual authentication mode %s does not support trustStore for port %d", e.Mode, e.Port)
	case e.Mode != "verify" && e.IgnoreClientCertificateExpiry != nil:
		return fmt.Errorf("mutual authentication mode %s does not support ignoring client certificate expiry for port %d", e.Mode, e.Port)
	case e.AdvertiseTrustStoreCaNames != nil && e.Mode != "verify":
		return fmt.Errorf("mutual authentication mode %s does not support advertiseTrustStoreCaNames for port %d", e.Mode, e.Port)
	case e.AdvertiseTrustStoreCaNames != nil && *e.AdvertiseTrustStoreCaNames != "on" && *e.AdvertiseTrustStoreCaNames != "off":
		return fmt.Errorf("advertiseTrustStoreCaNames only supports the values \"on\" and \"off\" got value %s for port %d", *e.AdvertiseTrustStoreCaNames, e.Port)
	}
	return nil
}

// mutualAuth sets an HTTPS listener's mutual TLS from its members'
// annotations; members that set it must agree.
func (b *builder) mutualAuth(l *Listener, members []Member) error {
	var from string
	for _, m := range members {
		ann := annotations(m.Ingress.Annotations)
		entries, err := parseMutualAuthentication(ann)
		if err != nil {
			return memberError(m.Ingress, err)
		}
		e, ok := entries[l.Port]
		if !ok {
			continue
		}
		if l.MutualAuthentication != nil && !sameMutualAuthentication(l.MutualAuthentication, e) {
			return &ConflictError{Group: b.stackID, Setting: fmt.Sprintf("annotation %s on listen port %d", AnnotationMutualAuthentication, l.Port),
				Values: map[string]string{from: ann[AnnotationMutualAuthentication], key(m.Ingress): ann[AnnotationMutualAuthentication]}}
		}
		l.MutualAuthentication, from = e, key(m.Ingress)
	}
	return nil
}

func sameMutualAuthentication(a, b *MutualAuthentication) bool {
	return a.Mode == b.Mode && a.TrustStore == b.TrustStore &&
		aws.ToBool(a.IgnoreClientCertificateExpiry) == aws.ToBool(b.IgnoreClientCertificateExpiry) &&
		aws.ToString(a.AdvertiseTrustStoreCaNames) == aws.ToString(b.AdvertiseTrustStoreCaNames)
}

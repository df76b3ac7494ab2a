package certstore

import "crypto/x509"

// keyUsageNames names a certificate's key usage bits as ACM does.
func keyUsageNames(u x509.KeyUsage) []string {
	names := []struct {
		bit  x509.KeyUsage
		name string
	}{
		{x509.KeyUsageDigitalSignature, "DIGITAL_SIGNATURE"},
		{x509.KeyUsageContentCommitment, "NON_REPUDIATION"},
		{x509.KeyUsageKeyEncipherment, "KEY_ENCIPHERMENT"},
		{x509.KeyUsageDataEncipherment, "DATA_ENCIPHERMENT"},
		{x509.KeyUsageKeyAgreement, "KEY_AGREEMENT"},
		{x509.KeyUsageCertSign, "CERTIFICATE_SIGNING"},
		{x509.KeyUsageCRLSign, "CRL_SIGNING"},
		{x509.KeyUsageEncipherOnly, "ENCIPHER_ONLY"},
		{x509.KeyUsageDecipherOnly, "DECIPHER_ONLY"},
	}
	var out []string
	for _, n := range names {
		if u&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// extKeyUsages maps the extended key usages ACM names to their OIDs.
var extKeyUsages = []struct {
	usage x509.ExtKeyUsage
	name  string
	oid   string
}{
	{x509.ExtKeyUsageServerAuth, "TLS_WEB_SERVER_AUTHENTICATION", "1.3.6.1.5.5.7.3.1"},
	{x509.ExtKeyUsageClientAuth, "TLS_WEB_CLIENT_AUTHENTICATION", "1.3.6.1.5.5.7.3.2"},
	{x509.ExtKeyUsageCodeSigning, "CODE_SIGNING", "1.3.6.1.5.5.7.3.3"},
	{x509.ExtKeyUsageEmailProtection, "EMAIL_PROTECTION", "1.3.6.1.5.5.7.3.4"},
	{x509.ExtKeyUsageIPSECEndSystem, "IPSEC_END_SYSTEM", "1.3.6.1.5.5.7.3.5"},
	{x509.ExtKeyUsageIPSECTunnel, "IPSEC_TUNNEL", "1.3.6.1.5.5.7.3.6"},
	{x509.ExtKeyUsageIPSECUser, "IPSEC_USER", "1.3.6.1.5.5.7.3.7"},
	{x509.ExtKeyUsageTimeStamping, "TIME_STAMPING", "1.3.6.1.5.5.7.3.8"},
	{x509.ExtKeyUsageOCSPSigning, "OCSP_SIGNING", "1.3.6.1.5.5.7.3.9"},
	{x509.ExtKeyUsageAny, "ANY", "2.5.29.37.0"},
}

// extKeyUsageNames names a certificate's extended key usages as ACM does:
// CUSTOM for one ACM has no name for, NONE for a certificate without the
// extension.
func extKeyUsageNames(c *x509.Certificate) []string {
	var out []string
	for _, u := range c.ExtKeyUsage {
		name := "CUSTOM"
		for _, e := range extKeyUsages {
			if e.usage == u {
				name = e.name
			}
		}
		out = append(out, name)
	}
	for range c.UnknownExtKeyUsage {
		out = append(out, "CUSTOM")
	}
	if len(out) == 0 {
		return []string{"NONE"}
	}
	return out
}

// ExtendedKeyUsageOID returns the OID of an extended key usage ACM names,
// "" for NONE and CUSTOM.
func ExtendedKeyUsageOID(name string) string {
	for _, e := range extKeyUsages {
		if e.name == name {
			return e.oid
		}
	}
	return ""
}

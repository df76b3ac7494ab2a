package tlspolicy

import "crypto/tls"

// VersionName returns the name ELB policies give a TLS version ("TLSv1.2"),
// as ALB's X-Amzn-Tls-Version header carries it; empty for an unknown one.
func VersionName(v uint16) string {
	for name, id := range tlsVersions {
		if id == v {
			return name
		}
	}
	return ""
}

// CipherName returns the OpenSSL name of a cipher suite
// ("ECDHE-RSA-AES128-GCM-SHA256"), as ALB's X-Amzn-Tls-Cipher-Suite header
// carries it; TLS 1.3 suites keep their standard names
// ("TLS_AES_128_GCM_SHA256"), as in ELB policies.
func CipherName(id uint16) string {
	for name, s := range cipherSuites {
		if s == id {
			return name
		}
	}
	return tls.CipherSuiteName(id)
}

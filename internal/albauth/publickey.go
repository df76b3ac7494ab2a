package albauth

import (
	"net/http"
	"strings"
)

// PublicKeyPath is where kelb's API endpoint serves the public key of the
// x-amzn-oidc-data signatures by kid: GET /public-keys/<kid>, as ALB's
// https://public-keys.auth.elb.<region>.amazonaws.com/<kid> serves it.
const PublicKeyPath = "/public-keys/"

// IsPublicKeyRequest reports whether r asks for a public key (GET or HEAD
// under PublicKeyPath); such requests are not signed.
func IsPublicKeyRequest(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.HasPrefix(r.URL.Path, PublicKeyPath)
}

// ServePublicKey answers a public key request: the PEM public key of the
// kid in the path, or 404.
func (k *Keys) ServePublicKey(w http.ResponseWriter, r *http.Request) {
	pem, ok := k.PublicKeyPEM(strings.TrimPrefix(r.URL.Path, PublicKeyPath))
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(pem)
}

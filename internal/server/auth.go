package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/kelb-io/kelb/internal/albauth"
	"github.com/kelb-io/kelb/internal/certstore"
)

// authOptions builds what the authenticate actions of the L7 plane share:
// keys derived from the certificate key (so a fleet sharing that file
// seals sessions and signs user claims alike), and a client for the
// identity providers that trusts the system's roots and cfg.AuthCAFile.
func authOptions(cfg Config, certKey *certstore.Key, log *slog.Logger) (albauth.Options, error) {
	keys, err := albauth.NewKeys(certKey.Derive("alb authentication"))
	if err != nil {
		return albauth.Options{}, err
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if cfg.AuthCAFile != "" {
		pem, err := os.ReadFile(cfg.AuthCAFile)
		if err != nil {
			return albauth.Options{}, fmt.Errorf("auth CA file: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return albauth.Options{}, fmt.Errorf("auth CA file %s: no PEM certificate", cfg.AuthCAFile)
		}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return albauth.Options{
		Keys:            keys,
		Client:          &http.Client{Transport: transport, Timeout: 10 * time.Second},
		CognitoEndpoint: cfg.CognitoEndpoint,
		Logger:          log,
	}, nil
}

package elbapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// callerKey keys the caller of an API request in its context.
type callerKey struct{}

// caller is who sent an API request and where: what a presigned URL for
// them needs.
type caller struct {
	accessKeyID, secret string
	endpoint            url.URL
	region              string
}

func (h *handler) caller(r *http.Request, accessKeyID string) caller {
	c := caller{accessKeyID: accessKeyID, region: h.cfg.Region, endpoint: url.URL{Scheme: "http", Host: r.Host}}
	if r.TLS != nil {
		c.endpoint.Scheme = "https"
	}
	if h.cfg.Credentials != nil {
		c.secret, _ = h.cfg.Credentials.SecretKey(accessKeyID)
	}
	return c
}

// DocumentPathPrefix starts the paths of the documents whose presigned
// URLs the API hands out; package s3api serves them.
const DocumentPathPrefix = "/_kelb/"

// PresignedURLExpiry is how long the URLs of PresignedURL stay valid, as
// long as those GetTrustStoreCaCertificatesBundle hands out on AWS.
const PresignedURLExpiry = 10 * time.Minute

// PresignedURL returns a URL for a GET of path on the endpoint the API
// request of ctx came to, presigned for S3 (package s3api verifies it)
// with the caller's access key and valid for PresignedURLExpiry: what
// AWS's operations that hand out S3 locations answer with.
func PresignedURL(ctx context.Context, path string) (string, error) {
	c, ok := ctx.Value(callerKey{}).(caller)
	if !ok || c.secret == "" {
		return "", errors.New("no authenticated caller to presign a URL for")
	}
	u := c.endpoint
	u.Path = path
	return Presign(&u, c.accessKeyID, c.secret, c.region, "s3", time.Now(), PresignedURLExpiry).String(), nil
}

// Package s3api serves the small part of the Amazon S3 REST API that
// kelb needs, on kelb server's API address: path-style requests
// (http://<kelb>/<bucket>/<key>) signed with SigV4 (signing name s3), so
// that `aws s3 mb`, `aws s3 cp`, `aws s3 ls`, boto3's put_object and the
// SDKs work against kelb with only an endpoint override
// (AWS_ENDPOINT_URL_S3). Trust stores read their CA bundles and
// revocation lists from these objects, as ELBv2 reads them from S3.
//
// Operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
// GetBucketLocation, PutObject, GetObject, HeadObject, DeleteObject and
// ListObjectsV2 (prefix, delimiter, max-keys, continuation). Objects are
// kept by package s3store (at most s3store.MaxObjectSize bytes each:
// larger ones get EntityTooLarge before their body is read). Anything
// else (virtual-hosted requests, multipart uploads, aws-chunked bodies,
// copies, ACLs) answers NotImplemented; nothing is half done.
//
// A request is authenticated before it acts: the Authorization header or
// a presigned query (X-Amz-Credential ...), with S3's canonical form
// (the path encoded once; UNSIGNED-PAYLOAD allowed). Failures answer
// S3's XML error (<Error><Code>...) with S3's status and, for HEAD, no
// body. GET /_kelb/... serves the documents kelb's ELBv2 API hands out as
// presigned URLs (trust store CA bundles and revocation lists, see
// Documents): bucket names cannot start with "_", so that path is no
// bucket's.
//
// IsS3Request tells S3 requests apart from the Query and JSON APIs that
// share the address (kelb server asks for ALB authentication's unsigned
// GET /public-keys/<kid> first, so a bucket of that name cannot be read).
package s3api

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/elbapi"
	"github.com/kelb-io/kelb/internal/s3store"
)

// DocumentPrefix starts the paths of the documents kelb hands out as
// presigned URLs.
const DocumentPrefix = elbapi.DocumentPathPrefix

// Documents serves the documents under DocumentPrefix: path is the rest
// of the URL path. A document that does not exist is a *s3store.Error
// (NoSuchKey).
type Documents func(ctx context.Context, path string) (data []byte, contentType string, err error)

// Config configures NewHandler.
type Config struct {
	Objects     *s3store.Store
	Credentials elbapi.Credentials
	Region      string
	Documents   Documents
	Logger      *slog.Logger
	Now         func() time.Time
}

// IsS3Request reports whether r is an S3 request: signed for the s3
// service (header or presigned query), or for a path other than "/",
// which the Query and JSON APIs never use.
func IsS3Request(r *http.Request) bool {
	if r.URL.Path != "/" && r.URL.Path != "" {
		return true
	}
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); auth != "" {
		_, rest, _ := strings.Cut(auth, "Credential=")
		cred, _, _ = strings.Cut(rest, ",")
	}
	parts := strings.Split(cred, "/")
	return len(parts) == 5 && parts[3] == "s3"
}

type handler struct {
	cfg Config
}

// NewHandler returns the S3 API handler.
func NewHandler(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &handler{cfg: cfg}
}

// s3Error is an error as S3 writes it.
type s3Error struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string
	Message   string
	Resource  string `xml:",omitempty"`
	RequestID string `xml:"RequestId"`
	status    int
}

func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	w.Header().Set("x-amz-request-id", requestID)
	w.Header().Set("Server", "kelb")
	if err := h.serve(w, r); err != nil {
		h.writeError(w, r, requestID, err)
	}
}

func (h *handler) writeError(w http.ResponseWriter, r *http.Request, requestID string, err error) {
	e := &s3Error{Code: "InternalError", Message: "We encountered an internal error. Please try again.", status: http.StatusInternalServerError}
	var serr *s3store.Error
	var aerr *elbapi.Error
	var unavailable *store.UnavailableError
	switch {
	case errors.As(err, &serr):
		e = &s3Error{Code: serr.Code, Message: serr.Message, Resource: serr.Resource, status: serr.Status}
	case errors.As(err, &aerr):
		e = &s3Error{Code: authCode(aerr.Code), Message: aerr.Message, status: http.StatusForbidden}
		if aerr.Code == "IncompleteSignature" {
			e.Code, e.status = "AuthorizationQueryParametersError", http.StatusBadRequest
		}
	case errors.As(err, &unavailable):
		h.cfg.Logger.Error("S3 API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &s3Error{Code: "ServiceUnavailable", Message: "Please reduce your request rate. " + unavailable.Error(), status: http.StatusServiceUnavailable}
	default:
		h.cfg.Logger.Error("S3 API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	e.RequestID = requestID
	if r.Method == http.MethodHead {
		w.WriteHeader(e.status)
		return
	}
	b, _ := xml.Marshal(e)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.status)
	w.Write([]byte(xml.Header))
	w.Write(b)
}

// authCode names an authentication failure as S3 does.
func authCode(code string) string {
	switch code {
	case "InvalidClientTokenId":
		return "InvalidAccessKeyId"
	case "MissingAuthenticationToken", "RequestExpired":
		return "AccessDenied"
	}
	return code
}

func notImplemented(what string) error {
	return &s3store.Error{Code: "NotImplemented", Status: http.StatusNotImplemented,
		Message: "A header or query you provided implies functionality that is not implemented: " + what + " is not supported by kelb's S3"}
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request) error {
	if r.ContentLength > s3store.MaxObjectSize {
		return tooLarge(r)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s3store.MaxObjectSize+1))
	if err != nil {
		return &s3store.Error{Code: "IncompleteBody", Status: http.StatusBadRequest, Message: "You did not provide the number of bytes specified by the Content-Length HTTP header."}
	}
	if len(body) > s3store.MaxObjectSize {
		return tooLarge(r)
	}
	if _, aerr := elbapi.VerifySignature(r, body, elbapi.SignatureConfig{
		Credentials: h.cfg.Credentials, Region: h.cfg.Region, Service: "s3", Now: h.cfg.Now, S3: true,
	}); aerr != nil {
		return aerr
	}
	if strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") || strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") {
		return notImplemented("aws-chunked transfer encoding")
	}
	ctx := r.Context()
	if strings.HasPrefix(r.URL.Path, DocumentPrefix) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		return h.document(ctx, w, r)
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	for _, sub := range []string{"uploads", "uploadId", "acl", "policy", "versioning", "tagging", "cors", "lifecycle", "website", "versions"} {
		if q.Has(sub) {
			return notImplemented("?" + sub)
		}
	}
	switch {
	case bucket == "" && r.Method == http.MethodGet:
		return h.listBuckets(ctx, w)
	case bucket == "":
		return methodNotAllowed(r)
	case key == "":
		return h.bucketOp(ctx, w, r, bucket)
	}
	switch r.Method {
	case http.MethodPut:
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			return notImplemented("CopyObject")
		}
		return h.putObject(ctx, w, r, bucket, key, body)
	case http.MethodGet, http.MethodHead:
		o, err := h.cfg.Objects.GetObject(ctx, bucket, key)
		if err != nil {
			return err
		}
		writeObject(w, r, o.Data, o.ContentType, o.ETag, o.LastModified)
		return nil
	case http.MethodDelete:
		if err := h.cfg.Objects.DeleteObject(ctx, bucket, key); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return methodNotAllowed(r)
}

// maxDiscard is how much of a body over the object size limit is read and
// dropped before EntityTooLarge is answered, so that a client still
// sending it reads the answer instead of a reset (and does not retry);
// past it the connection closes.
const maxDiscard = 16 << 20

func tooLarge(r *http.Request) error {
	io.Copy(io.Discard, io.LimitReader(r.Body, maxDiscard))
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return s3store.TooLarge(bucket, key)
}

func methodNotAllowed(r *http.Request) error {
	return &s3store.Error{Code: "MethodNotAllowed", Status: http.StatusMethodNotAllowed, Resource: r.URL.Path,
		Message: "The specified method is not allowed against this resource."}
}

func writeObject(w http.ResponseWriter, r *http.Request, data []byte, contentType, etag string, modified time.Time) {
	if contentType == "" {
		contentType = "binary/octet-stream"
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	if !modified.IsZero() {
		w.Header().Set("Last-Modified", modified.UTC().Format(http.TimeFormat))
	}
	w.Header().Set("Accept-Ranges", "bytes")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(data)
	}
}

func (h *handler) document(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Documents == nil {
		return s3store.NoSuchKey("_kelb", strings.TrimPrefix(r.URL.Path, DocumentPrefix))
	}
	data, ct, err := h.cfg.Documents(ctx, strings.TrimPrefix(r.URL.Path, DocumentPrefix))
	if err != nil {
		return err
	}
	writeObject(w, r, data, ct, "", time.Time{})
	return nil
}

func (h *handler) putObject(ctx context.Context, w http.ResponseWriter, r *http.Request, bucket, key string, body []byte) error {
	if m := r.Header.Get("Content-Md5"); m != "" {
		sum := md5.Sum(body)
		if m != base64.StdEncoding.EncodeToString(sum[:]) {
			return &s3store.Error{Code: "BadDigest", Status: http.StatusBadRequest, Resource: "/" + bucket + "/" + key,
				Message: "The Content-MD5 you specified did not match what we received."}
		}
	}
	o, err := h.cfg.Objects.PutObject(ctx, s3store.PutObjectInput{Bucket: bucket, Key: key, Data: body, ContentType: r.Header.Get("Content-Type")})
	if err != nil {
		return err
	}
	w.Header().Set("ETag", o.ETag)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (h *handler) bucketOp(ctx context.Context, w http.ResponseWriter, r *http.Request, bucket string) error {
	switch r.Method {
	case http.MethodPut:
		if err := h.cfg.Objects.CreateBucket(ctx, bucket); err != nil {
			return err
		}
		w.Header().Set("Location", "/"+bucket)
		w.WriteHeader(http.StatusOK)
		return nil
	case http.MethodHead:
		b, err := h.cfg.Objects.HeadBucket(ctx, bucket)
		if err != nil {
			return err
		}
		w.Header().Set("X-Amz-Bucket-Region", b.Region)
		w.WriteHeader(http.StatusOK)
		return nil
	case http.MethodDelete:
		if err := h.cfg.Objects.DeleteBucket(ctx, bucket); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodGet:
		if r.URL.Query().Has("location") {
			b, err := h.cfg.Objects.HeadBucket(ctx, bucket)
			if err != nil {
				return err
			}
			return writeXML(w, struct {
				XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ LocationConstraint"`
				Region  string   `xml:",chardata"`
			}{Region: b.Region})
		}
		return h.listObjects(ctx, w, r, bucket)
	}
	return methodNotAllowed(r)
}

func writeXML(w http.ResponseWriter, v any) error {
	b, err := xml.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(xml.Header))
	w.Write(b)
	return nil
}

const timeFormat = "2006-01-02T15:04:05.000Z"

type xOwner struct {
	ID          string
	DisplayName string
}

func (h *handler) listBuckets(ctx context.Context, w http.ResponseWriter) error {
	buckets, err := h.cfg.Objects.ListBuckets(ctx)
	if err != nil {
		return err
	}
	type xBucket struct {
		Name         string
		CreationDate string
		BucketRegion string
	}
	out := struct {
		XMLName xml.Name  `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListAllMyBucketsResult"`
		Owner   xOwner    `xml:"Owner"`
		Buckets []xBucket `xml:"Buckets>Bucket"`
	}{Owner: xOwner{ID: "kelb", DisplayName: "kelb"}}
	for _, b := range buckets {
		out.Buckets = append(out.Buckets, xBucket{Name: b.Name, CreationDate: b.CreationDate.UTC().Format(timeFormat), BucketRegion: b.Region})
	}
	return writeXML(w, out)
}

type xContent struct {
	Key          string
	LastModified string
	ETag         string
	Size         int64
	StorageClass string
}

type xPrefix struct {
	Prefix string
}

func (h *handler) listObjects(ctx context.Context, w http.ResponseWriter, r *http.Request, bucket string) error {
	q := r.URL.Query()
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	maxKeys := 1000
	if v := q.Get("max-keys"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return &s3store.Error{Code: "InvalidArgument", Status: http.StatusBadRequest, Message: "Provided max-keys not an integer or within integer range"}
		}
		maxKeys = min(n, 1000)
	}
	after := q.Get("start-after")
	if t := q.Get("continuation-token"); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil {
			return &s3store.Error{Code: "InvalidArgument", Status: http.StatusBadRequest, Message: "The continuation token provided is incorrect"}
		}
		after = string(b)
	}
	objs, err := h.cfg.Objects.ListObjects(ctx, bucket, prefix)
	if err != nil {
		return err
	}
	out := struct {
		XMLName               xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
		Name                  string
		Prefix                string
		Delimiter             string `xml:",omitempty"`
		MaxKeys               int
		KeyCount              int
		IsTruncated           bool
		ContinuationToken     string `xml:",omitempty"`
		NextContinuationToken string `xml:",omitempty"`
		StartAfter            string `xml:",omitempty"`
		EncodingType          string `xml:",omitempty"`
		Contents              []xContent
		CommonPrefixes        []xPrefix
	}{Name: bucket, Prefix: prefix, Delimiter: delim, MaxKeys: maxKeys, ContinuationToken: q.Get("continuation-token"), StartAfter: q.Get("start-after")}
	encode := func(s string) string { return s }
	if q.Get("encoding-type") == "url" {
		out.EncodingType = "url"
		encode = func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	}
	seen := map[string]bool{}
	last := ""
	for _, o := range objs {
		if o.Key <= after {
			continue
		}
		rest := strings.TrimPrefix(o.Key, prefix)
		entry := o.Key
		if delim != "" {
			if i := strings.Index(rest, delim); i >= 0 {
				entry = prefix + rest[:i+len(delim)]
				if seen[entry] {
					continue
				}
			}
		}
		if out.KeyCount == maxKeys {
			out.IsTruncated = true
			out.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(last))
			break
		}
		out.KeyCount++
		if entry != o.Key {
			seen[entry] = true
			out.CommonPrefixes = append(out.CommonPrefixes, xPrefix{Prefix: encode(entry)})
			// Every key under this common prefix sorts before the next
			// prefix: resume after the last of them.
			last = entry + "\xff"
			continue
		}
		last = o.Key
		out.Contents = append(out.Contents, xContent{Key: encode(o.Key), LastModified: o.LastModified.UTC().Format(timeFormat), ETag: o.ETag, Size: o.Size, StorageClass: "STANDARD"})
	}
	return writeXML(w, out)
}

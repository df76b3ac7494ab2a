// Package acmapi serves the part of the AWS Certificate Manager API that
// kelb's certificate store implements, over ACM's own wire protocol (AWS
// JSON 1.1, X-Amz-Target: CertificateManager.<Operation>, SigV4 with the
// signing name acm), so that `aws acm import-certificate` and the SDKs work
// against kelb server with only an endpoint override
// (AWS_ENDPOINT_URL_ACM).
//
// Operations: ImportCertificate (new, or re-import with CertificateArn),
// RequestCertificate (issued at once by kelb's certificate authority, see
// certstore.Store.Request), DescribeCertificate, ListCertificates (with
// CertificateStatuses, Includes, SortBy/SortOrder and paging), GetCertificate (the chain is
// kelb's CA for a requested certificate), ExportCertificate (only for a
// certificate requested with Options.Export ENABLED, as ACM),
// RenewCertificate (requested certificates), DeleteCertificate
// (ResourceInUseException while a listener uses the certificate),
// AddTagsToCertificate, RemoveTagsFromCertificate and
// ListTagsForCertificate. Other operations answer
// UnknownOperationException. A request is authenticated
// before its body is decoded; every failure answers the JSON error ACM
// would ({"__type": code, "message": ...}) with its HTTP status.
//
// IsACMRequest tells the ACM requests apart from ELBv2 Query requests
// arriving on the same address.
package acmapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/kelb-io/kelb/internal/awsjson"
	"github.com/kelb-io/kelb/internal/certstore"
	"github.com/kelb-io/kelb/internal/elbapi"
)

const (
	targetPrefix = "CertificateManager."
	maxBodyBytes = 1 << 20
)

// IsACMRequest reports whether r is an ACM request.
func IsACMRequest(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
}

// Config configures NewHandler.
type Config struct {
	Certificates *certstore.Store
	Credentials  elbapi.Credentials
	Region       string
	Logger       *slog.Logger
	Now          func() time.Time
}

type handler struct {
	cfg Config
	ops map[string]func(ctx context.Context, body []byte) (any, error)
}

// NewHandler returns the ACM API handler.
func NewHandler(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	h := &handler{cfg: cfg}
	h.ops = map[string]func(context.Context, []byte) (any, error){
		"ImportCertificate":   h.importCertificate,
		"DescribeCertificate": h.describeCertificate,
		"ListCertificates":    h.listCertificates,
		"GetCertificate":      h.getCertificate,
		"DeleteCertificate":   h.deleteCertificate,
		"RequestCertificate":  h.requestCertificate,
		"RenewCertificate":    h.renewCertificate,
		"ExportCertificate":   h.exportCertificate,

		"AddTagsToCertificate":      h.addTags,
		"RemoveTagsFromCertificate": h.removeTags,
		"ListTagsForCertificate":    h.listTags,
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := elbapi.NewRequestID()
	w.Header().Set("x-amzn-RequestId", requestID)
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	if r.Method != http.MethodPost {
		h.writeError(w, op, &awsjson.Error{Status: http.StatusMethodNotAllowed, Code: "InvalidHttpRequest", Message: "Use POST."})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil || len(body) > maxBodyBytes {
		h.writeError(w, op, &awsjson.Error{Status: http.StatusBadRequest, Code: "SerializationException", Message: "The request body could not be read."})
		return
	}
	if _, aerr := elbapi.VerifySignature(r, body, elbapi.SignatureConfig{
		Credentials: h.cfg.Credentials, Region: h.cfg.Region, Service: "acm", Now: h.cfg.Now,
	}); aerr != nil {
		h.writeError(w, op, awsjson.AuthError(aerr))
		return
	}
	fn, ok := h.ops[op]
	if !ok {
		h.writeError(w, op, &awsjson.Error{Status: http.StatusBadRequest, Code: "UnknownOperationException", Message: fmt.Sprintf("Operation %s is not supported by kelb", op)})
		return
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	out, err := fn(r.Context(), body)
	if err != nil {
		h.writeError(w, op, err)
		return
	}
	if out == nil {
		out = struct{}{}
	}
	b, err := json.Marshal(out)
	if err != nil {
		h.writeError(w, op, err)
		return
	}
	w.Header().Set("Content-Type", awsjson.ContentType)
	w.Write(b)
	h.cfg.Logger.Debug("ACM API request", "operation", op, "status", http.StatusOK, "requestId", requestID)
}

func (h *handler) writeError(w http.ResponseWriter, op string, err error) {
	ae, known := awsjson.Answer(err)
	var cerr *certstore.Error
	if ae == nil && errors.As(err, &cerr) {
		ae, known = &awsjson.Error{Status: http.StatusBadRequest, Code: cerr.Code, Message: cerr.Message}, true
	}
	if !known {
		// etcd cannot be reached (nothing changed, the client may retry),
		// or a failure the API did not mean.
		h.cfg.Logger.Error("ACM API operation failed", "operation", op, "err", err)
	}
	if ae == nil {
		ae = &awsjson.Error{Status: http.StatusInternalServerError, Code: "InternalFailure", Message: "An internal error occurred."}
	}
	awsjson.Write(w, ae, "message")
}

func validation(format string, args ...any) error {
	return &awsjson.Error{Status: http.StatusBadRequest, Code: certstore.CodeValidation, Message: fmt.Sprintf(format, args...)}
}

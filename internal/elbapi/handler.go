// Package elbapi serves the ELBv2 API (version 2015-12-01) over the AWS Query
// protocol, so that the aws CLI, boto3 and the AWS SDKs talk to kelb with only
// an endpoint override.
//
// A request goes through these steps, and stops at the first that fails with
// the error AWS would answer with:
//
//  1. read the body (at most 1 MiB) and verify its SigV4 signature, from the
//     Authorization header or a presigned query string (sigv4.go);
//  2. decode the form (URL query, and for POST the form body) into Params
//     (params.go) and check Action and Version;
//  3. validate the input against the operation's shape in the embedded ELBv2
//     model: required members, ranges, lengths, enums, patterns (model.go);
//  4. call the operation's OpFunc and write its result, or its error, as XML
//     (xml.go, errors.go).
//
// The handler never lets a panic escape: a panicking operation answers 500
// InternalFailure and the panic is logged. Errors that are not API errors are
// logged with their detail and reach the client as a generic InternalFailure.
package elbapi

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// maxBodyBytes bounds a request body. The largest ELBv2 requests (rules with
// many conditions, a thousand targets) stay well below it.
const maxBodyBytes = 1 << 20

// OpFunc performs one operation on validated input.
//
// result is marshalled by encoding/xml as the content of <{Op}Result>: the
// handler writes that element itself, so the result's own XMLName, if any, is
// ignored. A nil result gives an empty <{Op}Result>. A non-nil err is either
// an *Error, or an error with a method ELBCode() (code, message string) whose
// code is a wire code of the model (TargetGroupNotFound) or the name of its
// exception shape (TargetGroupNotFoundException); anything else answers 500
// InternalFailure with a generic message and is logged.
type OpFunc func(ctx context.Context, p Params) (result any, err error)

// HandlerConfig configures NewHandler. Only Ops and Credentials are required
// for a useful handler.
type HandlerConfig struct {
	// Ops maps operation names (DescribeLoadBalancers) to their
	// implementation. Operations of the model that are missing answer
	// InvalidAction.
	Ops map[string]OpFunc
	// Credentials holds the access keys requests may be signed with. nil
	// accepts no key: every signed request fails with InvalidClientTokenId.
	Credentials Credentials
	// Region is the region requests must be signed for (us-east-1 when
	// empty).
	Region string
	// Now tells the time to check signatures' dates against; nil: time.Now.
	Now func() time.Time
	// Logger receives one debug line per request and the detail of
	// internal errors; nil: discard.
	Logger *slog.Logger
	// Registerer receives the kelb_api_requests_total counter (requests
	// by operation and result code); nil: not exported.
	Registerer prometheus.Registerer
}

type handler struct {
	cfg     HandlerConfig
	verify  verifier
	log     *slog.Logger
	metrics *metrics
}

// NewHandler returns the ELBv2 Query API handler. It answers on any path.
func NewHandler(cfg HandlerConfig) http.Handler {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	serviceModel() // fail at start, not on the first request, if the model is broken
	return &handler{
		cfg:     cfg,
		verify:  verifier{creds: cfg.Credentials, region: cfg.Region, now: cfg.Now},
		log:     cfg.Logger,
		metrics: newMetrics(cfg.Registerer),
	}
}

type requestIDKey struct{}

// RequestID returns the request id of the API request ctx belongs to, as
// sent back to the client in x-amzn-RequestId, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := NewRequestID()
	w.Header().Set("x-amzn-RequestId", requestID)
	action := ""
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.Error("ELBv2 API operation panicked", "action", action, "requestId", requestID,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			h.writeError(w, requestID, action, errInternal)
		}
	}()

	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		h.writeError(w, requestID, action, &Error{Code: "InvalidHttpRequest", Status: http.StatusMethodNotAllowed,
			Message: fmt.Sprintf("The %s method is not supported; use POST or GET.", r.Method)})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		h.writeError(w, requestID, action, &Error{Code: "InvalidHttpRequest", Status: http.StatusBadRequest,
			Message: "The request body could not be read."})
		return
	}
	if len(body) > maxBodyBytes {
		h.writeError(w, requestID, action, errBodyTooLarge)
		return
	}

	accessKeyID, aerr := h.verify.verify(r, body)
	if aerr != nil {
		h.writeError(w, requestID, action, aerr)
		return
	}

	form, perr := DecodeForm(r, body)
	if perr != nil {
		h.writeError(w, requestID, action, perr)
		return
	}
	p := ParseParams(form)
	action = p.String("Action")
	op, operr := h.lookup(action, p)
	if operr != nil {
		h.writeError(w, requestID, action, operr)
		return
	}
	if verr := serviceModel().validateInput(action, p); verr != nil {
		h.writeError(w, requestID, action, verr)
		return
	}

	ctx := context.WithValue(r.Context(), requestIDKey{}, requestID)
	ctx = context.WithValue(ctx, callerKey{}, h.caller(r, accessKeyID))
	result, err := op(ctx, p)
	if err != nil {
		h.writeError(w, requestID, action, err)
		return
	}
	out, err := marshalResult(action, result, requestID)
	if err != nil {
		h.writeError(w, requestID, action, err)
		return
	}
	h.metrics.observe(action, "OK")
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	w.Write(out)
	h.log.Debug("ELBv2 API request", "action", action, "status", http.StatusOK, "requestId", requestID, "accessKeyId", accessKeyID)
}

// lookup finds the OpFunc for action, checking the Version the way AWS does.
func (h *handler) lookup(action string, p Params) (OpFunc, *Error) {
	if action == "" {
		return nil, errMissingAction
	}
	version := p.String("Version")
	if version == "" {
		version = "NO_VERSION_SPECIFIED"
	}
	op, ok := h.cfg.Ops[action]
	if !ok || !HasOperation(action) || version != apiVersion {
		return nil, &Error{Code: "InvalidAction", Status: http.StatusBadRequest,
			Message: fmt.Sprintf("Could not find operation %s for version %s", action, version)}
	}
	return op, nil
}

func (h *handler) writeError(w http.ResponseWriter, requestID, action string, err error) {
	we, internal := toWire(err)
	h.metrics.observe(action, we.Code)
	if internal {
		h.log.Error("ELBv2 API operation failed", "action", action, "requestId", requestID, "err", err)
	} else {
		h.log.Debug("ELBv2 API request", "action", action, "status", we.Status, "code", we.Code, "requestId", requestID)
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(we.Status)
	w.Write(marshalError(we, requestID))
}

// NewRequestID returns a random (version 4) UUID, the form of the
// x-amzn-RequestId of every kelb API but S3.
func NewRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

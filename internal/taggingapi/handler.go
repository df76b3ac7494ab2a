// Package taggingapi serves the read side of the Resource Groups Tagging
// API (version 2017-01-26) over its own wire protocol (AWS JSON 1.1,
// X-Amz-Target: ResourceGroupsTaggingAPI_20170126.<Operation>, SigV4 with
// the signing name tagging), on kelb server's API address beside ELBv2,
// EC2 and ACM: one query finds every resource carrying given tags, which
// is how a controller finds its stack without listing every load balancer
// and its tags (the AWS Load Balancer Controller does so behind its
// EnableRGTAPI feature gate). The aws CLI and the SDKs work against kelb
// with only an endpoint override (AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API).
//
// Operations: GetResources (TagFilters: AND across filters, OR within a
// filter's values, any value when it has none; ResourceTypeFilters as
// service or service:resource-type; ResourceARNList; ResourcesPerPage
// 1..100 and TagsPerPage 100..500, default 100 resources a page;
// IncludeComplianceDetails, where every resource is compliant since kelb
// has no tag policies), GetTagKeys and GetTagValues. The resources are
// the ELBv2 load balancers, listeners, rules (listeners' default rules
// among them), target groups and trust stores, EC2 security groups and
// ACM certificates that have at least one tag now (AWS also lists
// resources that had tags once; kelb keeps no such history). Other
// operations answer UnknownOperationException.
//
// Queries read an Index of the store's tags, brought up to date lazily at
// each query (see Index for the cost). A PaginationToken is stateless (the
// last ARN of the page, the query's digest and the time), so any kelb
// server of a fleet continues a listing; it expires after 15 minutes
// (PaginationTokenExpiredException) as AWS's do, and is refused for
// another query. A request is authenticated before its body is decoded;
// every failure answers the JSON error AWS would ({"__type": code,
// "Message": ...}, InvalidParameterException for bad input) with its HTTP
// status, and changes nothing. When the store cannot be reached the answer
// is 503 ServiceUnavailable; the index is then rebuilt at the next query.
package taggingapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kelb-io/kelb/internal/awsjson"
	"github.com/kelb-io/kelb/internal/elbapi"
)

const (
	// TargetPrefix starts the X-Amz-Target header of every request.
	TargetPrefix = "ResourceGroupsTaggingAPI_20170126."
	// SigningName is the service requests are signed for.
	SigningName  = "tagging"
	maxBodyBytes = 1 << 20
)

// Config configures NewHandler.
type Config struct {
	// Index answers the queries.
	Index       *Index
	Credentials elbapi.Credentials
	Region      string
	Logger      *slog.Logger
	// Registerer receives the request counter; nil keeps it unexported.
	Registerer prometheus.Registerer
	// Now tells the time (signatures, pagination tokens); nil: time.Now.
	Now func() time.Time
}

type opFunc func(ctx context.Context, body []byte) (any, error)

type handler struct {
	cfg      Config
	ops      map[string]opFunc
	requests *prometheus.CounterVec
}

// NewHandler returns the Resource Groups Tagging API handler.
func NewHandler(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &handler{cfg: cfg, requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kelb_tagging_api_requests_total",
		Help: "Resource Groups Tagging API requests, by operation and result code: OK, or the error code answered.",
	}, []string{"operation", "code"})}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(h.requests)
	}
	h.ops = map[string]opFunc{
		"GetResources": h.getResources,
		"GetTagKeys":   h.getTagKeys,
		"GetTagValues": h.getTagValues,
	}
	return h
}

// invalid is an InvalidParameterException.
func invalid(format string, args ...any) error {
	return &awsjson.Error{Status: http.StatusBadRequest, Code: "InvalidParameterException", Message: fmt.Sprintf(format, args...)}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := elbapi.NewRequestID()
	w.Header().Set("x-amzn-RequestId", requestID)
	proto, op, _ := requestProtocol(r)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.cfg.Logger.Error("tagging API operation panicked", "operation", op, "requestId", requestID,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			h.writeError(w, proto, op, requestID, errors.New("panic"))
		}
	}()
	if r.Method != http.MethodPost {
		h.writeError(w, proto, op, requestID, &awsjson.Error{Status: http.StatusMethodNotAllowed, Code: "InvalidHttpRequest", Message: "Use POST."})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil || len(body) > maxBodyBytes {
		h.writeError(w, proto, op, requestID, &awsjson.Error{Status: http.StatusBadRequest, Code: "SerializationException", Message: "The request body could not be read."})
		return
	}
	if _, aerr := elbapi.VerifySignature(r, body, elbapi.SignatureConfig{
		Credentials: h.cfg.Credentials, Region: h.cfg.Region, Service: SigningName, Now: h.cfg.Now,
	}); aerr != nil {
		h.writeError(w, proto, op, requestID, awsjson.AuthError(aerr))
		return
	}
	fn, ok := h.ops[op]
	if !ok {
		h.writeError(w, proto, op, requestID, &awsjson.Error{Status: http.StatusBadRequest, Code: "UnknownOperationException",
			Message: fmt.Sprintf("Operation %s is not supported by kelb: it serves GetResources, GetTagKeys and GetTagValues", op)})
		return
	}
	in, err := proto.requestJSON(body)
	if err != nil {
		h.writeError(w, proto, op, requestID, &awsjson.Error{Status: http.StatusBadRequest, Code: "SerializationException", Message: "The request body is not valid CBOR: " + err.Error()})
		return
	}
	out, err := fn(r.Context(), in)
	if err != nil {
		h.writeError(w, proto, op, requestID, err)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		h.writeError(w, proto, op, requestID, err)
		return
	}
	proto.write(w, http.StatusOK, b)
	h.observe(op, "OK")
	h.cfg.Logger.Debug("tagging API request", "operation", op, "status", http.StatusOK, "requestId", requestID)
}

func (h *handler) observe(op, code string) {
	if _, ok := h.ops[op]; !ok {
		op = "unknown"
	}
	h.requests.WithLabelValues(op, code).Inc()
}

func (h *handler) writeError(w http.ResponseWriter, proto protocol, op, requestID string, err error) {
	ae, known := awsjson.Answer(err)
	if !known {
		// etcd cannot be reached (the client may retry), or a failure the
		// API did not mean.
		h.cfg.Logger.Error("tagging API operation failed", "operation", op, "requestId", requestID, "err", err)
	}
	if ae == nil {
		ae = &awsjson.Error{Status: http.StatusInternalServerError, Code: "InternalServiceException", Message: "An internal error occurred."}
	}
	h.observe(op, ae.Code)
	h.cfg.Logger.Debug("tagging API request", "operation", op, "status", ae.Status, "code", ae.Code, "requestId", requestID)
	// Message is the exceptions' member; message is where RPC v2
	// clients read any error's text.
	keys := []string{"Message"}
	if proto == protocolCBOR {
		keys = append(keys, "message")
	}
	proto.write(w, ae.Status, ae.Body(keys...))
}

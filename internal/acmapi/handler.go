// Package acmapi serves the part of the AWS Certificate Manager API that
// kelb's certificate store implements, over ACM's own wire protocol (AWS
// JSON 1.1, X-Amz-Target: CertificateManager.<Operation>, SigV4 with the
// signing name acm), so that `aws acm import-certificate` and the SDKs work
// against kelb server with only an endpoint override
// (AWS_ENDPOINT_URL_ACM).
//
// Operations: ImportCertificate (new, or re-import with CertificateArn),
// DescribeCertificate, ListCertificates, GetCertificate, DeleteCertificate
// (ResourceInUseException while a listener uses the certificate). Other
// operations answer UnknownOperationException. A request is authenticated
// before its body is decoded; every failure answers the JSON error ACM
// would ({"__type": code, "message": ...}) with its HTTP status.
//
// IsACMRequest tells the ACM requests apart from ELBv2 Query requests
// arriving on the same address.
package acmapi

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kelb-io/kelb/internal/certstore"
	"github.com/kelb-io/kelb/internal/elb/store"
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
	}
	return h
}

// jsonAuthCode names an authentication failure as AWS's JSON services do:
// the Query protocol's SignatureDoesNotMatch is InvalidSignatureException
// there (an expired signature too), InvalidClientTokenId is
// UnrecognizedClientException.
func jsonAuthCode(code string) string {
	switch code {
	case "SignatureDoesNotMatch", "RequestExpired":
		return "InvalidSignatureException"
	case "InvalidClientTokenId":
		return "UnrecognizedClientException"
	case "IncompleteSignature", "MissingAuthenticationToken":
		return code + "Exception"
	}
	return code
}

// apiError is an error as ACM's JSON protocol sends it.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	w.Header().Set("x-amzn-RequestId", requestID)
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	if r.Method != http.MethodPost {
		h.writeError(w, op, &apiError{Status: http.StatusMethodNotAllowed, Code: "InvalidHttpRequest", Message: "Use POST."})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil || len(body) > maxBodyBytes {
		h.writeError(w, op, &apiError{Status: http.StatusBadRequest, Code: "SerializationException", Message: "The request body could not be read."})
		return
	}
	if _, aerr := elbapi.VerifySignature(r, body, elbapi.SignatureConfig{
		Credentials: h.cfg.Credentials, Region: h.cfg.Region, Service: "acm", Now: h.cfg.Now,
	}); aerr != nil {
		h.writeError(w, op, &apiError{Status: aerr.Status, Code: jsonAuthCode(aerr.Code), Message: aerr.Message})
		return
	}
	fn, ok := h.ops[op]
	if !ok {
		h.writeError(w, op, &apiError{Status: http.StatusBadRequest, Code: "UnknownOperationException", Message: fmt.Sprintf("Operation %s is not supported by kelb", op)})
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
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Write(b)
	h.cfg.Logger.Debug("ACM API request", "operation", op, "status", http.StatusOK, "requestId", requestID)
}

func (h *handler) writeError(w http.ResponseWriter, op string, err error) {
	ae := &apiError{Status: http.StatusInternalServerError, Code: "InternalFailure", Message: "An internal error occurred."}
	var cerr *certstore.Error
	var aerr *apiError
	var unavailable *store.UnavailableError
	switch {
	case errors.As(err, &aerr):
		ae = aerr
	case errors.As(err, &unavailable):
		// etcd cannot be reached: nothing changed, the client may retry.
		h.cfg.Logger.Error("ACM API operation failed", "operation", op, "err", err)
		ae = &apiError{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable",
			Message: "The request has failed due to a temporary failure of the server. " + unavailable.Error()}
	case errors.As(err, &cerr):
		ae = &apiError{Status: http.StatusBadRequest, Code: cerr.Code, Message: cerr.Message}
	default:
		h.cfg.Logger.Error("ACM API operation failed", "operation", op, "err", err)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(ae.Status)
	b, _ := json.Marshal(map[string]string{"__type": ae.Code, "message": ae.Message})
	w.Write(b)
}

func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return &apiError{Status: http.StatusBadRequest, Code: "SerializationException", Message: err.Error()}
	}
	return nil
}

func validation(format string, args ...any) error {
	return &apiError{Status: http.StatusBadRequest, Code: certstore.CodeValidation, Message: fmt.Sprintf(format, args...)}
}

type tag struct {
	Key   string
	Value string `json:",omitempty"`
}

func (h *handler) importCertificate(ctx context.Context, body []byte) (any, error) {
	var in struct {
		CertificateArn   string
		Certificate      []byte
		PrivateKey       []byte
		CertificateChain []byte
		Tags             []tag
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Certificate) == 0 || len(in.PrivateKey) == 0 {
		return nil, validation("Certificate and PrivateKey are required")
	}
	var tags []certstore.Tag
	for _, t := range in.Tags {
		tags = append(tags, certstore.Tag{Key: t.Key, Value: t.Value})
	}
	c, err := h.cfg.Certificates.Import(ctx, certstore.ImportInput{
		ARN: in.CertificateArn, Certificate: in.Certificate, PrivateKey: in.PrivateKey, Chain: in.CertificateChain, Tags: tags,
	})
	if err != nil {
		return nil, err
	}
	return map[string]string{"CertificateArn": c.ARN}, nil
}

type arnInput struct {
	CertificateArn string
}

func (h *handler) arn(body []byte) (string, error) {
	var in arnInput
	if err := decode(body, &in); err != nil {
		return "", err
	}
	if in.CertificateArn == "" {
		return "", validation("CertificateArn is required")
	}
	if !strings.HasPrefix(in.CertificateArn, certstore.ARNPrefix) {
		return "", &apiError{Status: http.StatusBadRequest, Code: certstore.CodeInvalidArn, Message: fmt.Sprintf("String '%s' is not a valid ARN", in.CertificateArn)}
	}
	return in.CertificateArn, nil
}

// epoch is a timestamp as the JSON protocol sends it: seconds since the
// epoch.
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(time.Time(t).UnixMilli())/1000, 'f', -1, 64), nil
}

type certificateDetail struct {
	CertificateArn          string
	DomainName              string
	SubjectAlternativeNames []string
	Serial                  string
	Subject                 string
	Issuer                  string
	CreatedAt               epoch
	ImportedAt              epoch
	NotBefore               epoch
	NotAfter                epoch
	Status                  string
	KeyAlgorithm            string
	SignatureAlgorithm      string
	InUseBy                 []string
	Type                    string
	RenewalEligibility      string
}

func (h *handler) describeCertificate(ctx context.Context, body []byte) (any, error) {
	arn, err := h.arn(body)
	if err != nil {
		return nil, err
	}
	c, err := h.cfg.Certificates.Get(ctx, arn)
	if err != nil {
		return nil, err
	}
	users, err := h.cfg.Certificates.InUseBy(ctx, arn)
	if err != nil {
		return nil, err
	}
	d := certificateDetail{
		CertificateArn: c.ARN, DomainName: c.DomainName, SubjectAlternativeNames: c.SubjectAlternativeNames,
		Serial: c.Serial, Subject: c.Subject, Issuer: c.Issuer,
		CreatedAt: epoch(c.CreatedAt), ImportedAt: epoch(c.ImportedAt), NotBefore: epoch(c.NotBefore), NotAfter: epoch(c.NotAfter),
		Status: status(c), KeyAlgorithm: c.KeyAlgorithm, SignatureAlgorithm: c.SignatureAlgorithm,
		InUseBy: users, Type: "IMPORTED", RenewalEligibility: "INELIGIBLE",
	}
	if d.InUseBy == nil {
		d.InUseBy = []string{}
	}
	return map[string]any{"Certificate": d}, nil
}

func status(c certstore.Certificate) string {
	if time.Now().After(c.NotAfter) {
		return "EXPIRED"
	}
	return "ISSUED"
}

func (h *handler) listCertificates(ctx context.Context, body []byte) (any, error) {
	var in struct {
		CertificateStatuses []string
		MaxItems            int
		NextToken           string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	all, err := h.cfg.Certificates.List(ctx)
	if err != nil {
		return nil, err
	}
	type summary struct {
		CertificateArn                  string
		DomainName                      string
		SubjectAlternativeNameSummaries []string
		Status                          string
		Type                            string
		KeyAlgorithm                    string
		NotBefore                       epoch
		NotAfter                        epoch
		CreatedAt                       epoch
		ImportedAt                      epoch
	}
	var list []summary
	for _, c := range all {
		st := status(c)
		if len(in.CertificateStatuses) > 0 && !contains(in.CertificateStatuses, st) {
			continue
		}
		if in.NextToken != "" && c.ARN <= in.NextToken {
			continue
		}
		list = append(list, summary{CertificateArn: c.ARN, DomainName: c.DomainName, SubjectAlternativeNameSummaries: c.SubjectAlternativeNames,
			Status: st, Type: "IMPORTED", KeyAlgorithm: c.KeyAlgorithm, NotBefore: epoch(c.NotBefore), NotAfter: epoch(c.NotAfter),
			CreatedAt: epoch(c.CreatedAt), ImportedAt: epoch(c.ImportedAt)})
	}
	out := map[string]any{}
	if in.MaxItems > 0 && len(list) > in.MaxItems {
		list = list[:in.MaxItems]
		out["NextToken"] = list[len(list)-1].CertificateArn
	}
	if list == nil {
		list = []summary{}
	}
	out["CertificateSummaryList"] = list
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (h *handler) getCertificate(ctx context.Context, body []byte) (any, error) {
	arn, err := h.arn(body)
	if err != nil {
		return nil, err
	}
	c, err := h.cfg.Certificates.Get(ctx, arn)
	if err != nil {
		return nil, err
	}
	out := map[string]string{"Certificate": c.CertificatePEM}
	if c.ChainPEM != "" {
		out["CertificateChain"] = c.ChainPEM
	}
	return out, nil
}

func (h *handler) deleteCertificate(ctx context.Context, body []byte) (any, error) {
	arn, err := h.arn(body)
	if err != nil {
		return nil, err
	}
	return nil, h.cfg.Certificates.Delete(ctx, arn)
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

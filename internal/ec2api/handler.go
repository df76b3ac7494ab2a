// Package ec2api serves the subset of the EC2 API (version 2016-11-15) that
// the AWS Load Balancer Controller and users' scripts need beside ELBv2:
// the one VPC, kelb's zones as subnets and availability zones, its
// instances (kelb server's --instance nodes) and their network interfaces,
// and security groups with their rules and tags, the VPC's default group
// among them. It shares kelb server's API
// address with ELBv2 and ACM; IsEC2Request tells its requests apart by the
// service their SigV4 signature is scoped to (ec2).
//
// Requests are EC2 Query forms (Action, Version, lists flattened as Name.N)
// decoded and verified by package elbapi's SigV4 and form code; answers are
// EC2's XML (<OpResponse><requestId>…), errors EC2's
// <Response><Errors><Error><Code>…</Code><Message>…</Message></Error></Errors><RequestID>…
// with the codes AWS gives (InvalidGroup.NotFound, InvalidPermission.Duplicate,
// DependencyViolation, InvalidParameterValue for an unknown filter, ...).
// A failed request changes nothing. When the store cannot be reached, the
// answer is 503 Unavailable; a panicking operation answers 500
// InternalError and is logged.
//
// Subnets carry the tags kubernetes.io/role/elb=1 and
// kubernetes.io/role/internal-elb=1, which the Load Balancer Controller's
// subnet discovery looks for; their tags, the VPC's and the zones are
// kelb's configuration and cannot be changed through the API.
package ec2api

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/elbapi"
	"github.com/kelb-io/kelb/internal/secgroup"
)

// APIVersion is the EC2 API version kelb answers.
const APIVersion = "2016-11-15"

const (
	xmlNamespace = "http://ec2.amazonaws.com/doc/" + APIVersion + "/"
	maxBodyBytes = 1 << 20
	// credentialScope is how a SigV4 credential scope for EC2 ends.
	credentialScope = "/ec2/aws4_request"
)

// IsEC2Request reports whether r is signed for the ec2 service, in its
// Authorization header or a presigned query string.
func IsEC2Request(r *http.Request) bool {
	if a := r.Header.Get("Authorization"); a != "" {
		_, cred, ok := strings.Cut(a, "Credential=")
		if !ok {
			return false
		}
		cred, _, _ = strings.Cut(cred, ",")
		return strings.HasSuffix(strings.TrimSpace(cred), credentialScope)
	}
	return strings.HasSuffix(r.URL.Query().Get("X-Amz-Credential"), credentialScope)
}

// Config configures NewHandler.
type Config struct {
	// ELB gives the region, account, VPC and zones, and the load
	// balancers' addresses (for subnets' free address counts).
	ELB *elb.Service
	// Groups holds the security groups.
	Groups      *secgroup.Groups
	Credentials elbapi.Credentials
	// Now tells the time to check signatures' dates against; nil: time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// opFunc performs one operation; its result embeds meta.
type opFunc func(ctx context.Context, p elbapi.Params) (result response, err error)

// response is a result: a struct embedding meta, marshalled as the
// content of <{Op}Response>.
type response interface{ setRequestID(string) }

// meta is the part every response has.
type meta struct {
	RequestID string `xml:"requestId"`
}

func (m *meta) setRequestID(id string) { m.RequestID = id }

// returnResponse is the answer of operations that only say they worked.
type returnResponse struct {
	meta
	Return bool `xml:"return"`
}

type handler struct {
	cfg Config
	ops map[string]opFunc
}

// NewHandler returns the EC2 API handler. It answers on any path.
func NewHandler(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{cfg: cfg}
	h.ops = map[string]opFunc{
		"DescribeVpcs":                  h.describeVpcs,
		"DescribeSubnets":               h.describeSubnets,
		"DescribeAvailabilityZones":     h.describeAvailabilityZones,
		"DescribeSecurityGroups":        h.describeSecurityGroups,
		"CreateSecurityGroup":           h.createSecurityGroup,
		"DeleteSecurityGroup":           h.deleteSecurityGroup,
		"AuthorizeSecurityGroupIngress": h.authorize(false),
		"AuthorizeSecurityGroupEgress":  h.authorize(true),
		"RevokeSecurityGroupIngress":    h.revoke(false),
		"RevokeSecurityGroupEgress":     h.revoke(true),
		"CreateTags":                    h.createTags,
		"DeleteTags":                    h.deleteTags,
		"DescribeTags":                  h.describeTags,
		"DescribeInstances":             h.describeInstances,
		"DescribeNetworkInterfaces":     h.describeNetworkInterfaces,
	}
	return h
}

// apiError is an EC2 error with its HTTP status (400 when zero).
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := elbapi.NewRequestID()
	w.Header().Set("x-amzn-RequestId", requestID)
	action := ""
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.cfg.Logger.Error("EC2 API operation panicked", "action", action, "requestId", requestID,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			h.writeError(w, requestID, action, errors.New("panic"))
		}
	}()
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		h.writeError(w, requestID, action, &apiError{Status: http.StatusMethodNotAllowed, Code: "InvalidHttpRequest",
			Message: fmt.Sprintf("The %s method is not supported; use POST or GET.", r.Method)})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil || len(body) > maxBodyBytes {
		h.writeError(w, requestID, action, errorf("InvalidRequest", "The request body could not be read or exceeds %d bytes.", maxBodyBytes))
		return
	}
	if _, aerr := elbapi.VerifySignature(r, body, elbapi.SignatureConfig{
		Credentials: h.cfg.Credentials, Region: h.cfg.ELB.Region(), Service: "ec2", Now: h.cfg.Now,
	}); aerr != nil {
		h.writeError(w, requestID, action, authError(aerr))
		return
	}
	form, ferr := elbapi.DecodeForm(r, body)
	if ferr != nil {
		h.writeError(w, requestID, action, &apiError{Status: ferr.Status, Code: ferr.Code, Message: ferr.Message})
		return
	}
	p := elbapi.ParseParams(form)
	action = p.String("Action")
	op, ok := h.ops[action]
	switch {
	case action == "":
		h.writeError(w, requestID, action, errorf("MissingAction", "The request must contain the parameter Action"))
		return
	case p.String("Version") != APIVersion:
		h.writeError(w, requestID, action, errorf("NoSuchVersion", "The requested version (%s) of service AmazonEC2 does not exist; kelb answers %s", p.String("Version"), APIVersion))
		return
	case !ok:
		h.writeError(w, requestID, action, errorf("InvalidAction", "The action %s is not valid for this web service.", action))
		return
	}
	result, err := op(r.Context(), p)
	if err != nil {
		h.writeError(w, requestID, action, err)
		return
	}
	result.setRequestID(requestID)
	var out bytes.Buffer
	out.WriteString(xml.Header)
	start := xml.StartElement{Name: xml.Name{Local: action + "Response"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: xmlNamespace}}}
	if err := xml.NewEncoder(&out).EncodeElement(result, start); err != nil {
		h.writeError(w, requestID, action, err)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Write(out.Bytes())
	h.cfg.Logger.Debug("EC2 API request", "action", action, "status", http.StatusOK, "requestId", requestID)
}

// authError turns a signature error into EC2's: a bad key or signature
// is AuthFailure (401).
func authError(e *elbapi.Error) *apiError {
	switch e.Code {
	case "InvalidClientTokenId", "SignatureDoesNotMatch":
		return &apiError{Status: http.StatusUnauthorized, Code: "AuthFailure", Message: e.Message}
	}
	return &apiError{Status: e.Status, Code: e.Code, Message: e.Message}
}

type xmlErrorResponse struct {
	XMLName   xml.Name   `xml:"Response"`
	Errors    []xmlError `xml:"Errors>Error"`
	RequestID string     `xml:"RequestID"`
}

type xmlError struct {
	Code    string
	Message string
}

func (h *handler) writeError(w http.ResponseWriter, requestID, action string, err error) {
	ae := &apiError{Status: http.StatusInternalServerError, Code: "InternalError",
		Message: "An internal error has occurred."}
	var aerr *apiError
	var serr *secgroup.Error
	var unavailable *store.UnavailableError
	switch {
	case errors.As(err, &unavailable):
		// etcd cannot be reached: nothing changed, the client may retry.
		h.cfg.Logger.Error("EC2 API operation failed", "action", action, "requestId", requestID, "err", err)
		ae = &apiError{Status: http.StatusServiceUnavailable, Code: "Unavailable",
			Message: "The server is overloaded or unavailable: " + unavailable.Error()}
	case errors.As(err, &aerr):
		ae = aerr
	case errors.As(err, &serr):
		ae = &apiError{Code: serr.Code, Message: serr.Message}
	default:
		h.cfg.Logger.Error("EC2 API operation failed", "action", action, "requestId", requestID, "err", err)
	}
	if ae.Status == 0 {
		ae.Status = http.StatusBadRequest
	}
	h.cfg.Logger.Debug("EC2 API request", "action", action, "status", ae.Status, "code", ae.Code, "requestId", requestID)
	out, _ := xml.Marshal(xmlErrorResponse{Errors: []xmlError{{Code: ae.Code, Message: ae.Message}}, RequestID: requestID})
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(ae.Status)
	w.Write([]byte(xml.Header))
	w.Write(out)
}

package elbapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// Error is an API error, written to the client as an ErrorResponse.
//
// When Code is one of the model's error codes (TargetGroupNotFound,
// DuplicateListener, ...), the HTTP status and the Sender/Receiver type come
// from the model and Status is ignored. Otherwise Status is used, 400 when
// zero; a status of 500 or more makes the error a Receiver fault.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// ValidationError returns a ValidationError (400), the code AWS uses for
// input that breaks a constraint.
func ValidationError(format string, args ...any) *Error {
	return &Error{Code: "ValidationError", Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// elbCoder is implemented by the service's errors: the wire code (or the
// model's exception shape name) and a message.
type elbCoder interface {
	ELBCode() (code, message string)
}

// Errors of the protocol layer itself, with the codes, statuses and messages
// AWS answers with.
var (
	errMissingAuth = &Error{Code: "MissingAuthenticationToken", Status: http.StatusForbidden,
		Message: "Request is missing Authentication Token"}
	errInvalidClientTokenID = &Error{Code: "InvalidClientTokenId", Status: http.StatusForbidden,
		Message: "The security token included in the request is invalid."}
	errSignatureMismatch = &Error{Code: "SignatureDoesNotMatch", Status: http.StatusForbidden,
		Message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	errMissingAction = &Error{Code: "MissingAction", Status: http.StatusBadRequest,
		Message: "The request is missing an action or a required parameter."}
	errInternal = &Error{Code: "InternalFailure", Status: http.StatusInternalServerError,
		Message: "The request processing has failed because of an unknown error, exception or failure."}
	errUnavailable = &Error{Code: "ServiceUnavailable", Status: http.StatusServiceUnavailable,
		Message: "The request has failed due to a temporary failure of the server."}
	errBodyTooLarge = &Error{Code: "RequestEntityTooLarge", Status: http.StatusRequestEntityTooLarge,
		Message: "Request body exceeds the maximum allowed size."}
)

func incompleteSignature(format string, args ...any) *Error {
	return &Error{Code: "IncompleteSignature", Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

func signatureMismatch(format string, args ...any) *Error {
	return &Error{Code: "SignatureDoesNotMatch", Status: http.StatusForbidden, Message: fmt.Sprintf(format, args...)}
}

func requestExpired(format string, args ...any) *Error {
	return &Error{Code: "RequestExpired", Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

// wireError is an error as it goes on the wire.
type wireError struct {
	Type    string // Sender or Receiver
	Code    string
	Message string
	Status  int
}

// toWire maps any error an OpFunc or the protocol layer returns to what the
// client sees. internal reports whether the error was not an API error, so
// that the caller logs its detail (the client gets a generic message).
func toWire(err error) (w wireError, internal bool) {
	w, internal = toWireUnbounded(err)
	w.Message = truncateRunes(w.Message, maxErrorMessageRunes)
	return w, internal
}

// maxErrorMessageRunes bounds every error message, whatever the operation
// put in it.
const maxErrorMessageRunes = 8192

func toWireUnbounded(err error) (w wireError, internal bool) {
	var code, msg string
	status := 0
	var apiErr *Error
	var coder elbCoder
	var unavailable *store.UnavailableError
	switch {
	case errors.As(err, &unavailable):
		// The configuration store (etcd) cannot be reached: nothing was
		// changed, the load balancers keep serving, the client may retry.
		return wireError{Type: "Receiver", Code: errUnavailable.Code, Status: errUnavailable.Status,
			Message: errUnavailable.Message + " " + unavailable.Error()}, true
	case errors.As(err, &apiErr):
		code, msg, status = apiErr.Code, apiErr.Message, apiErr.Status
	case errors.As(err, &coder):
		code, msg = coder.ELBCode()
	default:
		return wireError{Type: "Receiver", Code: errInternal.Code, Message: errInternal.Message, Status: errInternal.Status}, true
	}
	if me, ok := serviceModel().errorByCode(code); ok {
		t := "Receiver"
		if me.senderFault {
			t = "Sender"
		}
		return wireError{Type: t, Code: me.code, Message: msg, Status: me.status}, false
	}
	if status == 0 {
		status = http.StatusBadRequest
	}
	t := "Sender"
	if status >= 500 {
		t = "Receiver"
	}
	return wireError{Type: t, Code: code, Message: msg, Status: status}, false
}

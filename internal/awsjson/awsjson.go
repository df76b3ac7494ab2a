// Package awsjson holds what kelb's APIs on the AWS JSON 1.1 protocol
// (ACM, the Resource Groups Tagging API) answer alike: the error they send
// ({"__type": code, "message": text} with an HTTP status), the names JSON
// services give to signature failures, and the decoding of a request body.
//
// A failure is answered, never panics nor half-writes: a body that does not
// decode is a 400 SerializationException, a store that cannot be reached a
// 503 ServiceUnavailable (nothing changed, the client may retry), and
// anything else the caller's internal error. The EC2 API speaks the Query
// protocol with XML errors and has its own.
package awsjson

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/elbapi"
)

// ContentType is the media type of AWS JSON 1.1 bodies.
const ContentType = "application/x-amz-json-1.1"

// Error is an error as the JSON protocol sends it.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Body is e as a JSON error body: the code in __type and the message under
// each of messageKeys ("message", "Message": services differ, and some
// clients read one only).
func (e *Error) Body(messageKeys ...string) []byte {
	body := map[string]string{"__type": e.Code}
	for _, k := range messageKeys {
		body[k] = e.Message
	}
	b, _ := json.Marshal(body)
	return b
}

// Write answers e in the JSON protocol, its message under messageKeys.
func Write(w http.ResponseWriter, e *Error, messageKeys ...string) {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(e.Status)
	w.Write(e.Body(messageKeys...))
}

// Answer returns the Error to send for err: err itself when it is an
// *Error, a 503 ServiceUnavailable when the store cannot be reached, nil
// for any other error, which the caller maps or answers as its internal
// error. Both of the latter deserve a log line: known reports whether err
// was an *Error.
func Answer(err error) (ae *Error, known bool) {
	var aerr *Error
	var unavailable *store.UnavailableError
	switch {
	case errors.As(err, &aerr):
		return aerr, true
	case errors.As(err, &unavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable",
			Message: "The request has failed due to a temporary failure of the server. " + unavailable.Error()}, false
	}
	return nil, false
}

// AuthError turns a signature failure into the error AWS's JSON services
// answer: the Query protocol's SignatureDoesNotMatch is
// InvalidSignatureException there (an expired signature too),
// InvalidClientTokenId is UnrecognizedClientException.
func AuthError(e *elbapi.Error) *Error {
	return &Error{Status: e.Status, Code: authCode(e.Code), Message: e.Message}
}

func authCode(code string) string {
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

// Decode reads a request body into v; a body that is not JSON of v's
// shape is a SerializationException.
func Decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return &Error{Status: http.StatusBadRequest, Code: "SerializationException", Message: err.Error()}
	}
	return nil
}

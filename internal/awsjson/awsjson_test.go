package awsjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/elbapi"
)

func TestAnswer(t *testing.T) {
	invalid := &Error{Status: http.StatusBadRequest, Code: "InvalidParameterException", Message: "bad"}
	for _, tc := range []struct {
		name      string
		err       error
		wantCode  string
		wantKnown bool
	}{
		{"an Error", invalid, "InvalidParameterException", true},
		{"a wrapped Error", fmt.Errorf("get resources: %w", invalid), "InvalidParameterException", true},
		{"store unreachable", fmt.Errorf("read: %w", &store.UnavailableError{Err: errors.New("etcd down")}), "ServiceUnavailable", false},
		{"anything else", errors.New("boom"), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ae, known := Answer(tc.err)
			code := ""
			if ae != nil {
				code = ae.Code
			}
			if code != tc.wantCode || known != tc.wantKnown {
				t.Errorf("Answer = %v, %v; want code %q, known %v", ae, known, tc.wantCode, tc.wantKnown)
			}
		})
	}
	if ae, _ := Answer(&store.UnavailableError{Err: errors.New("etcd down")}); ae.Status != http.StatusServiceUnavailable {
		t.Errorf("store unreachable answers status %d, want 503", ae.Status)
	}
}

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, AuthError(&elbapi.Error{Status: http.StatusForbidden, Code: "SignatureDoesNotMatch", Message: "no match"}), "message", "Message")
	if rec.Code != http.StatusForbidden || rec.Header().Get("Content-Type") != ContentType {
		t.Errorf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"__type": "InvalidSignatureException", "message": "no match", "Message": "no match"}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestDecode(t *testing.T) {
	var v struct{ N int }
	err := Decode([]byte(`{"N":"x"}`), &v)
	var ae *Error
	if !errors.As(err, &ae) || ae.Code != "SerializationException" || ae.Status != http.StatusBadRequest {
		t.Errorf("Decode of a string into an int = %v, want a 400 SerializationException", err)
	}
	if err := Decode([]byte(`{"N":3}`), &v); err != nil || v.N != 3 {
		t.Errorf("Decode = %v, %+v", err, v)
	}
}

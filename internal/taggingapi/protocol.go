package taggingapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/aws/smithy-go/encoding/cbor"
	"github.com/kelb-io/kelb/internal/awsjson"
)

// The Resource Groups Tagging API speaks two protocols, as AWS serves
// it: AWS JSON 1.1 (X-Amz-Target, what the aws CLI and botocore send)
// and Smithy RPC v2 CBOR (POST /service/<service>/operation/<op>,
// Smithy-Protocol: rpc-v2-cbor, what aws-sdk-go-v2's client sends from
// v1.42.0). Both carry the same shapes: a CBOR request is turned into
// JSON for the operation, and its JSON answer back into CBOR.
type protocol int

const (
	protocolJSON protocol = iota
	protocolCBOR
)

const (
	cborPathPrefix = "/service/ResourceGroupsTaggingAPI_20170126/operation/"
	cborHeader     = "rpc-v2-cbor"
)

// requestProtocol returns r's protocol and operation name.
func requestProtocol(r *http.Request) (protocol, string, bool) {
	if op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix); ok {
		return protocolJSON, op, true
	}
	if strings.EqualFold(r.Header.Get("Smithy-Protocol"), cborHeader) {
		if op, ok := strings.CutPrefix(r.URL.Path, cborPathPrefix); ok && !strings.Contains(op, "/") {
			return protocolCBOR, op, true
		}
	}
	return 0, "", false
}

// IsTaggingRequest reports whether r is a Resource Groups Tagging API
// request, in either protocol.
func IsTaggingRequest(r *http.Request) bool {
	_, _, ok := requestProtocol(r)
	return ok
}

// contentType is what a body of protocol p is.
func (p protocol) contentType() string {
	if p == protocolCBOR {
		return "application/cbor"
	}
	return awsjson.ContentType
}

// requestJSON returns a request body as JSON.
func (p protocol) requestJSON(body []byte) ([]byte, error) {
	if len(body) == 0 {
		return []byte("{}"), nil
	}
	if p == protocolJSON {
		return body, nil
	}
	v, err := cbor.Decode(body)
	if err != nil {
		return nil, err
	}
	a, err := fromCBOR(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(a)
}

// write sends a JSON answer (or error body) in protocol p.
func (p protocol) write(w http.ResponseWriter, status int, jsonBody []byte) {
	w.Header().Set("Content-Type", p.contentType())
	if p == protocolCBOR {
		w.Header().Set("Smithy-Protocol", cborHeader)
		d := json.NewDecoder(bytes.NewReader(jsonBody))
		d.UseNumber()
		var a any
		if err := d.Decode(&a); err == nil {
			jsonBody = cbor.Encode(toCBOR(a))
		}
	}
	w.WriteHeader(status)
	w.Write(jsonBody)
}

// fromCBOR turns a decoded CBOR value into what encoding/json marshals.
func fromCBOR(v cbor.Value) (any, error) {
	switch v := v.(type) {
	case cbor.Uint:
		return uint64(v), nil
	case cbor.NegInt:
		if v == 0 || v > math.MaxInt64 {
			return nil, fmt.Errorf("integer out of range")
		}
		return -int64(v), nil
	case cbor.String:
		return string(v), nil
	case cbor.Slice:
		return []byte(v), nil
	case cbor.Bool:
		return bool(v), nil
	case *cbor.Nil, *cbor.Undefined:
		return nil, nil
	case cbor.Float32:
		return float64(v), nil
	case cbor.Float64:
		return float64(v), nil
	case cbor.List:
		out := make([]any, len(v))
		for i, e := range v {
			var err error
			if out[i], err = fromCBOR(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case cbor.Map:
		out := make(map[string]any, len(v))
		for k, e := range v {
			var err error
			if out[k], err = fromCBOR(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case *cbor.Tag:
		if v.ID == 1 { // epoch-based timestamp
			return fromCBOR(v.Value)
		}
		return nil, fmt.Errorf("unsupported CBOR tag %d", v.ID)
	}
	return nil, fmt.Errorf("unsupported CBOR value %T", v)
}

// toCBOR turns a value decoded by encoding/json (with UseNumber) into
// CBOR.
func toCBOR(a any) cbor.Value {
	switch a := a.(type) {
	case nil:
		return &cbor.Nil{}
	case bool:
		return cbor.Bool(a)
	case string:
		return cbor.String(a)
	case json.Number:
		if i, err := a.Int64(); err == nil {
			if i < 0 {
				return cbor.NegInt(uint64(-i))
			}
			return cbor.Uint(uint64(i))
		}
		f, _ := a.Float64()
		return cbor.Float64(f)
	case []any:
		out := make(cbor.List, len(a))
		for i, e := range a {
			out[i] = toCBOR(e)
		}
		return out
	case map[string]any:
		out := make(cbor.Map, len(a))
		for k, e := range a {
			out[k] = toCBOR(e)
		}
		return out
	}
	return &cbor.Nil{}
}

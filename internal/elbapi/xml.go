package elbapi

import (
	"bytes"
	"encoding/xml"
	"fmt"
)

// XML responses of the Query protocol.
//
// A success is <{Op}Response xmlns=...><{Op}Result>...</{Op}Result>
// <ResponseMetadata><RequestId>...</RequestId></ResponseMetadata></{Op}Response>.
// The handler writes the envelope and the <{Op}Result> element itself and
// marshals the OpFunc's result into it with encoding/xml: the result's fields
// become the content of <{Op}Result>, and any XMLName the result carries is
// ignored. Lists are <Name><member>...</member></Name>: use List, or the tag
// `xml:"Name>member"` (which omits the element when the list is empty).

// xmlNamespace is the ELBv2 API's XML namespace.
const xmlNamespace = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"

// List is a Query-protocol list: it marshals as <Name><member>..</member>...
// </Name>, and as an empty <Name></Name> when it has no items, so that clients
// see an empty list rather than a missing one (the aws CLI prints [] for it,
// as it does against AWS). A nil List is marshalled the same way; use a
// pointer (*List[T]) with omitempty to leave an element out.
type List[T any] []T

// MarshalXML implements xml.Marshaler.
func (l List[T]) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	member := xml.StartElement{Name: xml.Name{Local: "member"}}
	for i := range l {
		if err := e.EncodeElement(l[i], member); err != nil {
			return fmt.Errorf("encode %s member %d: %w", start.Name.Local, i+1, err)
		}
	}
	return e.EncodeToken(start.End())
}

// marshalResult renders the success envelope of op around result.
func marshalResult(op string, result any, requestID string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`<` + op + `Response xmlns="` + xmlNamespace + `">`)
	if result == nil {
		buf.WriteString(`<` + op + `Result></` + op + `Result>`)
	} else {
		enc := xml.NewEncoder(&buf)
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: op + "Result"}}); err != nil {
			return nil, fmt.Errorf("marshal %s result: %w", op, err)
		}
		if err := enc.Close(); err != nil {
			return nil, fmt.Errorf("marshal %s result: %w", op, err)
		}
	}
	buf.WriteString(`<ResponseMetadata><RequestId>`)
	xml.EscapeText(&buf, []byte(requestID))
	buf.WriteString(`</RequestId></ResponseMetadata></` + op + `Response>`)
	return buf.Bytes(), nil
}

type xmlErrorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Error     xmlError `xml:"Error"`
	RequestID string   `xml:"RequestId"`
}

type xmlError struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// marshalError renders an ErrorResponse.
func marshalError(w wireError, requestID string) []byte {
	out, err := xml.Marshal(xmlErrorResponse{
		Xmlns:     xmlNamespace,
		Error:     xmlError{Type: w.Type, Code: w.Code, Message: w.Message},
		RequestID: requestID,
	})
	if err != nil {
		// Only strings go in; encoding them cannot fail.
		panic(fmt.Sprintf("elbapi: marshal error response: %v", err))
	}
	return out
}

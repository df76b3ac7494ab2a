package elbapi

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/elb/store"
)

func decodeXML(r io.Reader, v any) error { return xml.NewDecoder(r).Decode(v) }

type xmlTestItem struct {
	XMLName xml.Name `xml:"Ignored"`
	Name    string   `xml:"Name"`
}

func TestMarshalResult(t *testing.T) {
	tests := []struct {
		name   string
		op     string
		result any
		want   string
	}{
		{
			name: "nil result", op: "DeleteLoadBalancer", result: nil,
			want: `<DeleteLoadBalancerResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><DeleteLoadBalancerResult></DeleteLoadBalancerResult><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></DeleteLoadBalancerResponse>`,
		},
		{
			name: "struct with List, XMLName ignored", op: "DescribeTargetGroups",
			result: struct {
				XMLName      xml.Name          `xml:"Whatever"`
				TargetGroups List[xmlTestItem] `xml:"TargetGroups"`
				Empty        List[xmlTestItem] `xml:"Empty"`
				NextMarker   string            `xml:"NextMarker,omitempty"`
			}{TargetGroups: List[xmlTestItem]{{Name: "a&b"}, {Name: "c"}}},
			want: `<DescribeTargetGroupsResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><DescribeTargetGroupsResult>` +
				`<TargetGroups><member><Name>a&amp;b</Name></member><member><Name>c</Name></member></TargetGroups><Empty></Empty>` +
				`</DescribeTargetGroupsResult><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></DescribeTargetGroupsResponse>`,
		},
		{
			name: "pointer to struct", op: "SetIpAddressType",
			result: &struct {
				IpAddressType string `xml:"IpAddressType"`
			}{"dualstack"},
			want: `<SetIpAddressTypeResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><SetIpAddressTypeResult><IpAddressType>dualstack</IpAddressType></SetIpAddressTypeResult><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></SetIpAddressTypeResponse>`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := marshalResult(tt.op, tt.result, "rid")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("XML (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := marshalResult("X", make(chan int), "rid"); err == nil {
		t.Error("marshalling a channel succeeded")
	}
}

type codedError struct{ code string }

func (e codedError) Error() string             { return "coded " + e.code }
func (e codedError) ELBCode() (string, string) { return e.code, "detail of " + e.code }

func TestToWire(t *testing.T) {
	tests := []struct {
		name         string
		err          error
		want         wireError
		wantInternal bool
	}{
		{"modeled code", &Error{Code: "TargetGroupNotFound", Message: "m", Status: 500},
			wireError{Type: "Sender", Code: "TargetGroupNotFound", Message: "m", Status: 400}, false},
		{"modeled receiver fault", &Error{Code: "HealthUnavailable", Message: "m"},
			wireError{Type: "Receiver", Code: "HealthUnavailable", Message: "m", Status: 500}, false},
		{"modeled 429", codedError{"PriorRequestNotComplete"},
			wireError{Type: "Sender", Code: "PriorRequestNotComplete", Message: "detail of PriorRequestNotComplete", Status: 429}, false},
		{"exception shape name", fmt.Errorf("wrapped: %w", codedError{"DuplicateListenerException"}),
			wireError{Type: "Sender", Code: "DuplicateListener", Message: "detail of DuplicateListenerException", Status: 400}, false},
		{"unmodeled default status", &Error{Code: "Throttling", Message: "slow down"},
			wireError{Type: "Sender", Code: "Throttling", Message: "slow down", Status: 400}, false},
		{"unmodeled server status", &Error{Code: "ServiceUnavailable", Message: "later", Status: 503},
			wireError{Type: "Receiver", Code: "ServiceUnavailable", Message: "later", Status: 503}, false},
		{"validation", ValidationError("bad %s", "port"),
			wireError{Type: "Sender", Code: "ValidationError", Message: "bad port", Status: 400}, false},
		{"store unavailable", fmt.Errorf("create load balancer: %w", &store.UnavailableError{Store: "etcd at http://127.0.0.1:2379", Err: context.DeadlineExceeded}),
			wireError{Type: "Receiver", Code: "ServiceUnavailable", Status: 503,
				Message: "The request has failed due to a temporary failure of the server. configuration store etcd at http://127.0.0.1:2379 unavailable: context deadline exceeded"}, true},
		{"anything else", errors.New("bolt: database not open"),
			wireError{Type: "Receiver", Code: "InternalFailure", Message: errInternal.Message, Status: 500}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, internal := toWire(tt.err)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("wire error (-want +got):\n%s", diff)
			}
			if internal != tt.wantInternal {
				t.Errorf("internal = %v, want %v", internal, tt.wantInternal)
			}
		})
	}
}

func TestMarshalError(t *testing.T) {
	got := string(marshalError(wireError{Type: "Sender", Code: "TargetGroupNotFound", Message: "<none>", Status: 400}, "rid"))
	want := `<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender</Type><Code>TargetGroupNotFound</Code><Message>&lt;none&gt;</Message></Error><RequestId>rid</RequestId></ErrorResponse>`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("XML (-want +got):\n%s", diff)
	}
}

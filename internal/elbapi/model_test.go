package elbapi

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidateInput(t *testing.T) {
	longKey := strings.Repeat("k", 129)
	tests := []struct {
		name string
		op   string
		form string
		want string // "" for valid input
	}{
		{name: "valid", op: "CreateTargetGroup", form: "Name=web&Protocol=TCP&Port=80&HealthCheckIntervalSeconds=10&Tags.member.1.Key=team&Tags.member.1.Value=edge"},
		{name: "unknown parameters are ignored", op: "CreateTargetGroup", form: "Name=web&Colour=blue&Tags.member.1.Key=a&Tags.member.1.Shade=x"},
		{name: "operation without input constraints", op: "DescribeLoadBalancers", form: ""},
		{
			name: "integer below minimum", op: "CreateTargetGroup", form: "Name=web&Port=0",
			want: "1 validation error detected: Value '0' at 'port' failed to satisfy constraint: Member must have value greater than or equal to 1",
		},
		{
			name: "integer above maximum", op: "DescribeLoadBalancers", form: "PageSize=401",
			want: "1 validation error detected: Value '401' at 'pageSize' failed to satisfy constraint: Member must have value less than or equal to 400",
		},
		{
			name: "required member missing", op: "CreateTargetGroup", form: "Port=80",
			want: "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null",
		},
		{
			name: "enum", op: "CreateTargetGroup", form: "Name=web&Protocol=SCTP",
			want: "1 validation error detected: Value 'SCTP' at 'protocol' failed to satisfy constraint: Member must satisfy enum value set: [HTTP, HTTPS, TCP, TLS, UDP, TCP_UDP, GENEVE, QUIC, TCP_QUIC]",
		},
		{
			name: "two errors are counted and joined", op: "CreateTargetGroup", form: "Name=web&Port=0&HealthCheckIntervalSeconds=1",
			want: "2 validation errors detected: " +
				"Value '1' at 'healthCheckIntervalSeconds' failed to satisfy constraint: Member must have value greater than or equal to 5; " +
				"Value '0' at 'port' failed to satisfy constraint: Member must have value greater than or equal to 1",
		},
		{
			name: "required member of a list item", op: "RegisterTargets", form: "TargetGroupArn=arn&Targets.member.1.Id=10.0.0.1&Targets.member.2.Port=80",
			want: "1 validation error detected: Value null at 'targets.2.member.id' failed to satisfy constraint: Member must not be null",
		},
		{
			name: "list items are numbered by position", op: "RegisterTargets", form: "TargetGroupArn=arn&Targets.member.4.Id=a&Targets.member.9.Id=b&Targets.member.9.Port=70000",
			want: "1 validation error detected: Value '70000' at 'targets.2.member.port' failed to satisfy constraint: Member must have value less than or equal to 65535",
		},
		{
			name: "required list missing", op: "RegisterTargets", form: "TargetGroupArn=arn",
			want: "1 validation error detected: Value null at 'targets' failed to satisfy constraint: Member must not be null",
		},
		{
			name: "empty list below minimum length", op: "AddTags", form: "ResourceArns.member.1=arn&Tags=",
			want: "1 validation error detected: Value '[]' at 'tags' failed to satisfy constraint: Member must have length greater than or equal to 1",
		},
		{
			name: "string length and pattern", op: "AddTags", form: "ResourceArns.member.1=arn&Tags.member.1.Key=" + longKey + "&Tags.member.2.Key=a%3Cb",
			want: "2 validation errors detected: " +
				"Value '" + longKey + "' at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128; " +
				"Value 'a<b' at 'tags.2.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$",
		},
		{
			name: "not a number", op: "CreateTargetGroup", form: "Name=web&Port=http",
			want: "1 validation error detected: Value 'http' at 'port' failed to satisfy constraint: Member must be a number",
		},
		{
			name: "not a boolean", op: "CreateTargetGroup", form: "Name=web&HealthCheckEnabled=yes",
			want: "1 validation error detected: Value 'yes' at 'healthCheckEnabled' failed to satisfy constraint: Member must be a boolean",
		},
		{
			name: "nested structures in a list", op: "CreateListener",
			form: "LoadBalancerArn=arn&DefaultActions.member.1.Type=fixed-response&DefaultActions.member.1.Order=0&DefaultActions.member.1.FixedResponseConfig.StatusCode=302",
			want: "2 validation errors detected: " +
				"Value '302' at 'defaultActions.1.member.fixedResponseConfig.statusCode' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(2|4|5)\\d\\d$; " +
				"Value '0' at 'defaultActions.1.member.order' failed to satisfy constraint: Member must have value greater than or equal to 1",
		},
		{
			name: "map entries", op: "CreateListener",
			form: "LoadBalancerArn=arn&DefaultActions.member.1.Type=authenticate-oidc&DefaultActions.member.1.AuthenticateOidcConfig.Issuer=i" +
				"&DefaultActions.member.1.AuthenticateOidcConfig.AuthorizationEndpoint=a&DefaultActions.member.1.AuthenticateOidcConfig.TokenEndpoint=t" +
				"&DefaultActions.member.1.AuthenticateOidcConfig.UserInfoEndpoint=u&DefaultActions.member.1.AuthenticateOidcConfig.ClientId=c" +
				"&DefaultActions.member.1.AuthenticateOidcConfig.AuthenticationRequestExtraParams.entry.1.value=v",
			want: "1 validation error detected: Value null at 'defaultActions.1.member.authenticateOidcConfig.authenticationRequestExtraParams.1.entry.key' failed to satisfy constraint: Member must not be null",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := serviceModel().validateInput(tt.op, mustParseForm(t, tt.form))
			got := ""
			if err != nil {
				if err.Code != "ValidationError" || err.Status != 400 {
					t.Errorf("error code %s status %d, want ValidationError 400", err.Code, err.Status)
				}
				got = err.Message
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestModelErrors(t *testing.T) {
	tests := []struct {
		code       string
		wantStatus int
		wantSender bool
	}{
		{"TargetGroupNotFound", 400, true},
		{"TargetGroupNotFoundException", 400, true},
		{"PriorRequestNotComplete", 429, true},
		{"HealthUnavailable", 500, false},
		{"AssociationNotFound", 400, true},
	}
	for _, tt := range tests {
		me, ok := serviceModel().errorByCode(tt.code)
		if !ok || me.status != tt.wantStatus || me.senderFault != tt.wantSender {
			t.Errorf("errorByCode(%s) = %+v, %v; want status %d sender %v", tt.code, me, ok, tt.wantStatus, tt.wantSender)
		}
	}
	for _, op := range []string{"CreateLoadBalancer", "DescribeTargetHealth", "RegisterTargets", "AddTags", "ModifyListener"} {
		if !HasOperation(op) {
			t.Errorf("model lacks operation %s", op)
		}
	}
	if HasOperation("CreateBucket") {
		t.Error("model has CreateBucket")
	}
}

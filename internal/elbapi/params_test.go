package elbapi

import (
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func mustParseForm(t testing.TB, form string) Params {
	t.Helper()
	v, err := url.ParseQuery(form)
	if err != nil {
		t.Fatalf("parse %q: %v", form, err)
	}
	return ParseParams(v)
}

func TestStringList(t *testing.T) {
	tests := []struct {
		name string
		form string
		want []string
	}{
		{"in order", "Names.member.1=a&Names.member.2=b", []string{"a", "b"}},
		{"any order", "Names.member.3=c&Names.member.1=a&Names.member.2=b", []string{"a", "b", "c"}},
		{"numeric not lexical order", "Names.member.10=j&Names.member.9=i&Names.member.1=a", []string{"a", "i", "j"}},
		{"gaps", "Names.member.2=b&Names.member.7=g", []string{"b", "g"}},
		{"empty list", "Names=", []string{}},
		{"absent", "Other.member.1=x", nil},
		{"bad indexes ignored", "Names.member.0=z&Names.member.x=z&Names.member.01=z&Names.member.-1=z&Names.member.1=a", []string{"a"}},
		{"prefix of another key", "NamesX.member.1=z&Names.member.1=a", []string{"a"}},
		{"empty value kept", "Names.member.1=&Names.member.2=b", []string{"", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustParseForm(t, tt.form).StringList("Names")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("StringList (-want +got):\n%s", diff)
			}
			if (got == nil) != (tt.want == nil) {
				t.Errorf("StringList nil = %v, want nil = %v", got == nil, tt.want == nil)
			}
		})
	}
}

type paramTarget struct {
	ID   string
	Port int32
	AZ   *string
}

func TestStructList(t *testing.T) {
	tests := []struct {
		name string
		form string
		want []paramTarget
	}{
		{
			name: "any order with gaps",
			form: "Targets.member.3.Id=10.0.0.3&Targets.member.1.Port=80&Targets.member.3.AvailabilityZone=zone-a&Targets.member.1.Id=10.0.0.1",
			want: []paramTarget{{ID: "10.0.0.1", Port: 80}, {ID: "10.0.0.3", AZ: ptrTo("zone-a")}},
		},
		{name: "empty", form: "Targets=", want: []paramTarget{}},
		{name: "absent", form: "Action=RegisterTargets", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []paramTarget
			list := mustParseForm(t, tt.form).StructList("Targets")
			if list != nil {
				got = []paramTarget{}
			}
			for _, p := range list {
				port, _, err := p.Int32("Port")
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, paramTarget{ID: p.String("Id"), Port: port, AZ: p.StringPtr("AvailabilityZone")})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestNestedStructures(t *testing.T) {
	p := mustParseForm(t, "DefaultActions.member.1.Type=forward"+
		"&DefaultActions.member.1.ForwardConfig.TargetGroups.member.2.TargetGroupArn=tg-b"+
		"&DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn=tg-a"+
		"&DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.Weight=3"+
		"&DefaultActions.member.1.AuthenticateOidcConfig.AuthenticationRequestExtraParams.entry.2.key=k2"+
		"&DefaultActions.member.1.AuthenticateOidcConfig.AuthenticationRequestExtraParams.entry.2.value=v2"+
		"&DefaultActions.member.1.AuthenticateOidcConfig.AuthenticationRequestExtraParams.entry.1.key=k1"+
		"&DefaultActions.member.1.AuthenticateOidcConfig.AuthenticationRequestExtraParams.entry.1.value=")
	actions := p.StructList("DefaultActions")
	if len(actions) != 1 {
		t.Fatalf("%d actions, want 1", len(actions))
	}
	a := actions[0]
	fc, ok := a.Struct("ForwardConfig")
	if !ok {
		t.Fatal("ForwardConfig missing")
	}
	if _, ok := a.Struct("RedirectConfig"); ok {
		t.Error("RedirectConfig present, want absent")
	}
	type tgw struct {
		Arn    string
		Weight int32
		Has    bool
	}
	var got []tgw
	for _, tg := range fc.StructList("TargetGroups") {
		w, has, err := tg.Int32("Weight")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tgw{tg.String("TargetGroupArn"), w, has})
	}
	if diff := cmp.Diff([]tgw{{"tg-a", 3, true}, {"tg-b", 0, false}}, got); diff != "" {
		t.Errorf("target groups (-want +got):\n%s", diff)
	}
	oidc, _ := a.Struct("AuthenticateOidcConfig")
	if diff := cmp.Diff(map[string]string{"k1": "", "k2": "v2"}, oidc.Map("AuthenticationRequestExtraParams")); diff != "" {
		t.Errorf("map (-want +got):\n%s", diff)
	}
	if !a.Has("ForwardConfig") || a.Has("Forward") || !p.Has("DefaultActions") {
		t.Error("Has disagrees with the form")
	}
}

func TestScalars(t *testing.T) {
	p := mustParseForm(t, "Port=8080&Neg=-1&Big=3000000000&Word=abc&T=true&F=FALSE&B=yes&Empty=&Dup=first&Dup=second")
	int32Tests := []struct {
		key             string
		want            int32
		wantOK, wantErr bool
	}{
		{"Port", 8080, true, false},
		{"Neg", -1, true, false},
		{"Big", 0, true, true},
		{"Word", 0, true, true},
		{"Empty", 0, true, true},
		{"Absent", 0, false, false},
	}
	for _, tt := range int32Tests {
		v, ok, err := p.Int32(tt.key)
		if v != tt.want || ok != tt.wantOK || (err != nil) != tt.wantErr {
			t.Errorf("Int32(%s) = %d, %v, %v; want %d, %v, error %v", tt.key, v, ok, err, tt.want, tt.wantOK, tt.wantErr)
		}
		if err != nil {
			if e, isAPI := err.(*Error); !isAPI || e.Code != "ValidationError" {
				t.Errorf("Int32(%s) error %v is not a ValidationError", tt.key, err)
			}
		}
	}
	boolTests := []struct {
		key             string
		want            bool
		wantOK, wantErr bool
	}{
		{"T", true, true, false},
		{"F", false, true, false},
		{"B", false, true, true},
		{"Absent", false, false, false},
	}
	for _, tt := range boolTests {
		v, ok, err := p.Bool(tt.key)
		if v != tt.want || ok != tt.wantOK || (err != nil) != tt.wantErr {
			t.Errorf("Bool(%s) = %v, %v, %v; want %v, %v, error %v", tt.key, v, ok, err, tt.want, tt.wantOK, tt.wantErr)
		}
	}
	if p.StringPtr("Absent") != nil || p.StringPtr("Empty") == nil || *p.StringPtr("Empty") != "" {
		t.Error("StringPtr does not tell absent from empty")
	}
	if got := p.String("Dup"); got != "first" {
		t.Errorf("String(Dup) = %q, want the first value", got)
	}
	var zero Params
	if zero.Has("X") || zero.String("X") != "" || zero.StringList("X") != nil || zero.StructList("X") != nil {
		t.Error("zero Params is not empty")
	}
}

func TestMemberPath(t *testing.T) {
	tests := map[string]string{
		"Port":                "port",
		"Targets.member.3.Id": "targets.3.member.id",
		"Actions.member.1.ForwardConfig.TargetGroups.member.2.Weight": "actions.1.member.forwardConfig.targetGroups.2.member.weight",
	}
	for in, want := range tests {
		if got := memberPath(in); got != want {
			t.Errorf("memberPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseParams(f *testing.F) {
	for _, s := range []string{
		"Action=RegisterTargets&Version=2015-12-01&TargetGroupArn=arn&Targets.member.1.Id=10.0.0.1&Targets.member.1.Port=80",
		"Names=&Names.member.2=b&Names.member.1=a",
		"Tags.member.1.Key=k&Tags.member.1.Value=v&Tags.member.99999999999999999999.Key=x",
		"A.entry.1.key=k&A.entry.1.value=v&A.entry.=x&.=.&..member..=",
		"Port=abc&Weight=-0&B=TRUE",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, form string) {
		values, n := url.Values{}, 0
		if err := parseForm(values, form, &n); err == nil {
			if want, werr := url.ParseQuery(form); werr == nil && len(want) != len(values) {
				t.Fatalf("parseForm decoded %d keys, url.ParseQuery %d", len(values), len(want))
			}
		}
		p := ParseParams(values)
		for key := range values {
			p.Has(key)
			p.String(key)
			p.Int32(key)
			p.Bool(key)
			head := key
			for i := range len(key) {
				if key[i] == '.' {
					head = key[:i]
					break
				}
			}
			list := p.StringList(head)
			for i := 1; i < len(list); i++ {
				_ = list[i]
			}
			for _, sub := range p.StructList(head) {
				sub.String("Id")
				sub.StringList("Values")
			}
			if s, ok := p.Struct(head); ok && !p.Has(head) {
				t.Fatalf("Struct(%q) present but Has is false", head)
			} else {
				s.Map("X")
			}
			p.Map(head)
		}
		// Validation of arbitrary input against every operation must not
		// panic either.
		for op := range serviceModel().Operations {
			if err := serviceModel().validateInput(op, p); err != nil && len(err.Message) > 2*maxErrorMessageRunes*utf8.UTFMax {
				t.Fatalf("validation error of %d bytes", len(err.Message))
			}
		}
	})
}

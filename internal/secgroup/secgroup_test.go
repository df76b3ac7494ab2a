package secgroup

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/kelb-io/kelb/internal/elb/store"
)

func newTestGroups(t *testing.T, inUse map[string][]string) *Groups {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "kelb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(Config{Store: st, VpcID: "vpc-1", AccountID: "123456789012",
		InUse: func(_ store.ReadTx, id string) ([]string, error) { return inUse[id], nil }})
}

func code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestGroupLifecycle(t *testing.T) {
	ctx := context.Background()
	inUse := map[string][]string{}
	g := newTestGroups(t, inUse)
	web, err := g.Create(ctx, CreateInput{Name: "web", Description: "web", Tags: []Tag{{Key: "a", Value: "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if CheckID(web.ID) != nil || web.VpcID != "vpc-1" || len(web.Egress) != 1 || web.Egress[0].CIDR != "0.0.0.0/0" {
		t.Errorf("created %+v", web)
	}
	db, err := g.Create(ctx, CreateInput{Name: "db", Description: "db"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		in   CreateInput
		code string
	}{
		{"duplicate name", CreateInput{Name: "web", Description: "x"}, CodeGroupDuplicate},
		{"reserved name", CreateInput{Name: "default", Description: "x"}, CodeInvalidParameterValue},
		{"sg- name", CreateInput{Name: "sg-1", Description: "x"}, CodeInvalidParameterValue},
		{"no description", CreateInput{Name: "x"}, CodeMissingParameter},
		{"other VPC", CreateInput{Name: "x", Description: "x", VpcID: "vpc-2"}, CodeInvalidVpcIDNotFound},
		{"aws: tag", CreateInput{Name: "x", Description: "x", Tags: []Tag{{Key: "aws:x"}}}, CodeInvalidParameterValue},
	} {
		if _, err := g.Create(ctx, tt.in); code(err) != tt.code {
			t.Errorf("Create %s: %v, want %s", tt.name, err, tt.code)
		}
	}

	p := int32(5432)
	fromWeb := Permission{Protocol: "tcp", FromPort: &p, ToPort: &p, Peers: []Peer{{GroupID: web.ID}, {CIDR: "10.0.0.0/8"}}}
	_, added, err := g.Authorize(ctx, Ref{ID: db.ID}, false, []Permission{fromWeb})
	if err != nil || len(added) != 2 {
		t.Fatalf("Authorize = %v, %v", added, err)
	}
	// All or nothing: one duplicate rule fails the call and adds nothing.
	other := Permission{Protocol: "tcp", FromPort: &p, ToPort: &p, Peers: []Peer{{CIDR: "192.168.0.0/16"}, {CIDR: "10.0.0.0/8"}}}
	if _, _, err := g.Authorize(ctx, Ref{Name: "db"}, false, []Permission{other}); code(err) != CodePermissionDuplicate {
		t.Errorf("Authorize duplicate: %v", err)
	}
	if _, _, err := g.Authorize(ctx, Ref{ID: db.ID}, false, []Permission{{Protocol: "-1", Peers: []Peer{{GroupID: "sg-00000000000000000"}}}}); code(err) != CodeGroupNotFound {
		t.Errorf("Authorize with an unknown peer group: %v", err)
	}
	all, err := g.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, sg := range all {
		if sg.ID == db.ID && len(sg.Ingress) != 2 {
			t.Errorf("db ingress after failed calls = %+v", sg.Ingress)
		}
	}

	// web is referred to by db's rule, then used by a load balancer.
	if _, err := g.Delete(ctx, Ref{ID: web.ID}); code(err) != CodeDependencyViolation {
		t.Errorf("Delete of a referenced group: %v", err)
	}
	if err := g.Revoke(ctx, Ref{ID: db.ID}, false, []Permission{{Protocol: "tcp", FromPort: &p, ToPort: &p, Peers: []Peer{{GroupID: web.ID}}}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := g.Revoke(ctx, Ref{ID: db.ID}, false, nil, []string{added[0].ID}); code(err) != CodeRuleIDNotFound {
		t.Errorf("Revoke of a revoked rule id: %v", err)
	}
	if err := g.Revoke(ctx, Ref{ID: db.ID}, false, nil, []string{added[1].ID}); err != nil {
		t.Errorf("Revoke by rule id: %v", err)
	}
	inUse[web.ID] = []string{"arn:lb"}
	if _, err := g.Delete(ctx, Ref{ID: web.ID}); code(err) != CodeDependencyViolation {
		t.Errorf("Delete of a group in use: %v", err)
	}
	delete(inUse, web.ID)
	if id, err := g.Delete(ctx, Ref{Name: "web"}); err != nil || id != web.ID {
		t.Errorf("Delete = %s, %v", id, err)
	}
	if _, err := g.Delete(ctx, Ref{ID: web.ID}); code(err) != CodeGroupNotFound {
		t.Errorf("Delete of a deleted group: %v", err)
	}
	if _, err := g.Delete(ctx, Ref{ID: "web"}); code(err) != CodeGroupIDMalformed {
		t.Errorf("Delete of a malformed id: %v", err)
	}
}

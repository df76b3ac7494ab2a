// Package secgroup keeps kelb's security groups: EC2-style groups of
// ingress and egress rules, created and changed through kelb's EC2 API and
// kept in kelb's configuration store (kind "securitygroup", one JSON record
// per group under its id, sg- and 17 hex digits).
//
// A load balancer names its groups (CreateLoadBalancer's and
// SetSecurityGroups' SecurityGroups, which must exist);
// the ingress rules of those groups are what its listeners admit: Admitted
// turns them into the client networks of one listener's protocol and port,
// and the data planes reset or drop every other client. Rules whose peer is
// another security group admit no address, since kelb does not tell which
// group a client's address carries; egress rules are kept and reported
// only. Each VPC has its default group (defaultgroup.go), which kelb's
// instances carry and which cannot be deleted.
//
// Every change is one store transaction that validates everything first:
// a request with one bad permission, a duplicate rule or an unknown group
// changes nothing and fails with the EC2 error code AWS gives
// (InvalidPermission.Duplicate, InvalidGroup.NotFound, ...). Delete asks
// Config.InUse inside the same transaction and refuses a group a load
// balancer uses (DependencyViolation). When the store cannot be reached,
// operations fail with its error and write nothing; load balancers keep
// the rules they were last given.
package secgroup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// Kind is the store kind security groups are kept under.
const Kind = "securitygroup"

// Limits, as AWS's defaults.
const (
	MaxRulesPerDirection = 60
	MaxTagsPerResource   = 50
	MaxGroups            = 2500
)

// Error codes, as EC2 names them.
const (
	CodeGroupNotFound               = "InvalidGroup.NotFound"
	CodeGroupDuplicate              = "InvalidGroup.Duplicate"
	CodeGroupIDMalformed            = "InvalidGroupId.Malformed"
	CodePermissionDuplicate         = "InvalidPermission.Duplicate"
	CodePermissionNotFound          = "InvalidPermission.NotFound"
	CodeRuleIDNotFound              = "InvalidSecurityGroupRuleId.NotFound"
	CodeDependencyViolation         = "DependencyViolation"
	CodeInvalidParameterValue       = "InvalidParameterValue"
	CodeInvalidParameterCombination = "InvalidParameterCombination"
	CodeMissingParameter            = "MissingParameter"
	CodeInvalidVpcIDNotFound        = "InvalidVpcID.NotFound"
	CodeInvalidPrefixListNotFound   = "InvalidPrefixListID.NotFound"
	CodeRulesLimitExceeded          = "RulesPerSecurityGroupLimitExceeded"
	CodeGroupLimitExceeded          = "SecurityGroupLimitExceeded"
	CodeTagLimitExceeded            = "TagLimitExceeded"
)

// Error is an EC2 API error.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// EC2Code returns the error's code and message for the EC2 API.
func (e *Error) EC2Code() (code, message string) { return e.Code, e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Tag is a resource tag.
type Tag struct {
	Key   string
	Value string
}

// SecurityGroup is one security group.
type SecurityGroup struct {
	ID          string
	Name        string
	Description string
	VpcID       string
	OwnerID     string
	Ingress     []Rule
	Egress      []Rule
	Tags        []Tag
}

// Config configures Groups.
type Config struct {
	Store store.Store
	// VpcID is the one VPC groups are in; AccountID their owner.
	VpcID     string
	AccountID string
	// InUse returns what uses group id (load balancer ARNs), read within
	// tx; Delete refuses a group in use. nil: nothing uses groups.
	InUse func(tx store.ReadTx, id string) ([]string, error)
}

// Groups creates, changes and deletes security groups in the store.
type Groups struct{ cfg Config }

// New returns Groups over cfg.Store.
func New(cfg Config) *Groups { return &Groups{cfg: cfg} }

// VpcID returns the VPC groups are in.
func (g *Groups) VpcID() string { return g.cfg.VpcID }

// List returns every group, sorted by id, read from tx.
func List(tx store.ReadTx) ([]SecurityGroup, error) {
	kvs, err := tx.List(Kind)
	if err != nil {
		return nil, err
	}
	out := make([]SecurityGroup, 0, len(kvs))
	for _, kv := range kvs {
		var sg SecurityGroup
		if err := json.Unmarshal(kv.Value, &sg); err != nil {
			return nil, fmt.Errorf("security group %s: %w", kv.Key, err)
		}
		out = append(out, sg)
	}
	return out, nil
}

// Exists reports whether group id exists, read within tx.
func Exists(tx store.ReadTx, id string) (bool, error) {
	_, err := tx.Get(Kind, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// List returns every group, sorted by id.
func (g *Groups) List(ctx context.Context) ([]SecurityGroup, error) {
	var out []SecurityGroup
	err := g.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		var err error
		out, err = List(tx)
		return err
	})
	return out, err
}

// Ref names a group by id or, when ID is empty, by name.
type Ref struct {
	ID   string
	Name string
}

// CheckID fails with InvalidGroupId.Malformed unless id looks like a
// security group id.
func CheckID(id string) error {
	rest, ok := strings.CutPrefix(id, "sg-")
	if !ok || rest == "" || len(rest) > 17 || strings.Trim(rest, "0123456789abcdef") != "" {
		return errorf(CodeGroupIDMalformed, "Invalid id: \"%s\" (expecting \"sg-...\")", id)
	}
	return nil
}

// find returns the group ref names, read within tx.
func (g *Groups) find(tx store.ReadTx, ref Ref) (*SecurityGroup, error) {
	if ref.ID != "" {
		if err := CheckID(ref.ID); err != nil {
			return nil, err
		}
		b, err := tx.Get(Kind, ref.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errorf(CodeGroupNotFound, "The security group '%s' does not exist", ref.ID)
		}
		if err != nil {
			return nil, err
		}
		sg := new(SecurityGroup)
		if err := json.Unmarshal(b, sg); err != nil {
			return nil, fmt.Errorf("security group %s: %w", ref.ID, err)
		}
		return sg, nil
	}
	if ref.Name == "" {
		return nil, errorf(CodeMissingParameter, "The request must contain the parameter groupId or groupName")
	}
	all, err := List(tx)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].Name == ref.Name {
			return &all[i], nil
		}
	}
	return nil, errorf(CodeGroupNotFound, "The security group '%s' does not exist in default VPC '%s'", ref.Name, g.cfg.VpcID)
}

func put(tx store.Tx, sg *SecurityGroup) error {
	b, err := json.Marshal(sg)
	if err != nil {
		return err
	}
	return tx.Put(Kind, sg.ID, b)
}

// newID returns prefix and 17 random hex digits, AWS's id format.
func newID(prefix string) string {
	var b [9]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])[:17]
}

// CreateInput is the input of Create.
type CreateInput struct {
	Name        string
	Description string
	// VpcID must be the groups' VPC, or empty.
	VpcID string
	Tags  []Tag
}

// checkDescription accepts what EC2 accepts in group and rule
// descriptions: at most 255 characters of a-z, A-Z, 0-9, spaces and
// ._-:/()#,@[]+=&;{}!$*.
func checkDescription(what, s string) error {
	if len(s) > 255 {
		return errorf(CodeInvalidParameterValue, "Invalid %s: longer than 255 characters", what)
	}
	for _, c := range s {
		if c < 0x20 || c > 0x7e || strings.ContainsRune("\"'<>?\\^`|~%", c) {
			return errorf(CodeInvalidParameterValue, "Invalid %s '%s': character '%c' is not allowed (use a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*)", what, s, c)
		}
	}
	return nil
}

// Create creates a group with AWS's default egress rule (all traffic to
// 0.0.0.0/0) and no ingress rule.
func (g *Groups) Create(ctx context.Context, in CreateInput) (SecurityGroup, error) {
	switch {
	case in.Name == "":
		return SecurityGroup{}, errorf(CodeMissingParameter, "The request must contain the parameter groupName")
	case in.Description == "":
		return SecurityGroup{}, errorf(CodeMissingParameter, "The request must contain the parameter groupDescription")
	case len(in.Name) > 255:
		return SecurityGroup{}, errorf(CodeInvalidParameterValue, "Invalid security group name: longer than 255 characters")
	case strings.HasPrefix(in.Name, "sg-"):
		return SecurityGroup{}, errorf(CodeInvalidParameterValue, "Group names may not be in the format sg-*")
	case in.Name == "default":
		return SecurityGroup{}, errorf(CodeInvalidParameterValue, "Cannot use reserved security group name: default")
	case in.VpcID != "" && in.VpcID != g.cfg.VpcID:
		return SecurityGroup{}, errorf(CodeInvalidVpcIDNotFound, "The vpc ID '%s' does not exist", in.VpcID)
	}
	if err := checkDescription("security group name", in.Name); err != nil {
		return SecurityGroup{}, err
	}
	if err := checkDescription("security group description", in.Description); err != nil {
		return SecurityGroup{}, err
	}
	tags, err := mergeTags(nil, in.Tags)
	if err != nil {
		return SecurityGroup{}, err
	}
	var out SecurityGroup
	err = g.cfg.Store.Update(ctx, func(tx store.Tx) error {
		all, err := List(tx)
		if err != nil {
			return err
		}
		if len(all) >= MaxGroups {
			return errorf(CodeGroupLimitExceeded, "The maximum number of security groups (%d) has been reached.", MaxGroups)
		}
		if slices.ContainsFunc(all, func(sg SecurityGroup) bool { return sg.Name == in.Name }) {
			return errorf(CodeGroupDuplicate, "The security group '%s' already exists for VPC '%s'", in.Name, g.cfg.VpcID)
		}
		out = SecurityGroup{
			ID: newID("sg-"), Name: in.Name, Description: in.Description, VpcID: g.cfg.VpcID, OwnerID: g.cfg.AccountID,
			Egress: []Rule{{ID: newID("sgr-"), Protocol: ProtocolAll, CIDR: "0.0.0.0/0"}},
			Tags:   tags,
		}
		return put(tx, &out)
	})
	return out, err
}

// Delete deletes a group no load balancer uses and no other group's rule
// refers to, and returns its id.
func (g *Groups) Delete(ctx context.Context, ref Ref) (string, error) {
	var id string
	err := g.cfg.Store.Update(ctx, func(tx store.Tx) error {
		sg, err := g.find(tx, ref)
		if err != nil {
			return err
		}
		id = sg.ID
		if sg.Name == DefaultName && sg.ID == DefaultGroupID(g.cfg.VpcID) {
			return errorf(CodeCannotDelete, "the specified group: \"%s\" name: \"%s\" cannot be deleted by a user", sg.ID, sg.Name)
		}
		if g.cfg.InUse != nil {
			users, err := g.cfg.InUse(tx, sg.ID)
			if err != nil {
				return err
			}
			if len(users) > 0 {
				return errorf(CodeDependencyViolation, "resource %s has a dependent object (load balancer %s)", sg.ID, users[0])
			}
		}
		all, err := List(tx)
		if err != nil {
			return err
		}
		for _, o := range all {
			if o.ID == sg.ID {
				continue
			}
			refers := func(r Rule) bool { return r.GroupID == sg.ID }
			if slices.ContainsFunc(o.Ingress, refers) || slices.ContainsFunc(o.Egress, refers) {
				return errorf(CodeDependencyViolation, "resource %s has a dependent object (a rule of security group %s)", sg.ID, o.ID)
			}
		}
		return tx.Delete(Kind, sg.ID)
	})
	return id, err
}

// Authorize adds the rules of perms to the group's ingress (or egress)
// rules and returns the group's id and the rules with their new ids. A rule that exists already,
// or twice in perms, fails the whole call with InvalidPermission.Duplicate.
func (g *Groups) Authorize(ctx context.Context, ref Ref, egress bool, perms []Permission) (string, []Rule, error) {
	rules, err := expandAll(perms)
	if err != nil {
		return "", nil, err
	}
	var added []Rule
	var id string
	err = g.cfg.Store.Update(ctx, func(tx store.Tx) error {
		added = nil
		sg, err := g.find(tx, ref)
		if err != nil {
			return err
		}
		id = sg.ID
		list := &sg.Ingress
		if egress {
			list = &sg.Egress
		}
		for _, r := range rules {
			if r.GroupID != "" {
				if _, err := g.find(tx, Ref{ID: r.GroupID}); err != nil {
					return err
				}
			}
			if slices.ContainsFunc(*list, r.same) {
				return errorf(CodePermissionDuplicate, "the specified rule \"%s\" already exists", r)
			}
			r.ID = newID("sgr-")
			*list = append(*list, r)
			added = append(added, r)
		}
		if len(*list) > MaxRulesPerDirection {
			return errorf(CodeRulesLimitExceeded, "The maximum number of rules per security group has been reached (%d).", MaxRulesPerDirection)
		}
		return put(tx, sg)
	})
	return id, added, err
}

// Revoke removes the rules of perms, and those with ids ruleIDs, from the
// group's ingress (or egress) rules. A rule that does not exist fails the
// whole call with InvalidPermission.NotFound.
func (g *Groups) Revoke(ctx context.Context, ref Ref, egress bool, perms []Permission, ruleIDs []string) error {
	rules, err := expandAll(perms)
	if err != nil {
		return err
	}
	if len(rules) == 0 && len(ruleIDs) == 0 {
		return errorf(CodeMissingParameter, "The request must contain the parameter ipPermissions or securityGroupRuleIds")
	}
	return g.cfg.Store.Update(ctx, func(tx store.Tx) error {
		sg, err := g.find(tx, ref)
		if err != nil {
			return err
		}
		list := &sg.Ingress
		if egress {
			list = &sg.Egress
		}
		for _, r := range rules {
			i := slices.IndexFunc(*list, r.same)
			if i < 0 {
				return errorf(CodePermissionNotFound, "The specified rule does not exist in this security group.")
			}
			*list = slices.Delete(*list, i, i+1)
		}
		for _, id := range ruleIDs {
			i := slices.IndexFunc(*list, func(r Rule) bool { return r.ID == id })
			if i < 0 {
				return errorf(CodeRuleIDNotFound, "The security group rule ID '%s' does not exist", id)
			}
			*list = slices.Delete(*list, i, i+1)
		}
		return put(tx, sg)
	})
}

func expandAll(perms []Permission) ([]Rule, error) {
	if len(perms) == 0 {
		return nil, nil
	}
	var rules []Rule
	for _, p := range perms {
		rs, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if slices.ContainsFunc(rules, r.same) {
				return nil, errorf(CodePermissionDuplicate, "the specified rule \"%s\" is given twice", r)
			}
			rules = append(rules, r)
		}
	}
	return rules, nil
}

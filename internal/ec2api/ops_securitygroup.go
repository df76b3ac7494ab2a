package ec2api

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/kelb-io/kelb/internal/elbapi"
	"github.com/kelb-io/kelb/internal/secgroup"
)

type xGroupPair struct {
	UserID      string `xml:"userId"`
	GroupID     string `xml:"groupId"`
	Description string `xml:"description,omitempty"`
}

type xIPRange struct {
	CidrIP      string `xml:"cidrIp"`
	Description string `xml:"description,omitempty"`
}

type xIPv6Range struct {
	CidrIPv6    string `xml:"cidrIpv6"`
	Description string `xml:"description,omitempty"`
}

type xIPPermission struct {
	IPProtocol string       `xml:"ipProtocol"`
	FromPort   *int32       `xml:"fromPort,omitempty"`
	ToPort     *int32       `xml:"toPort,omitempty"`
	Groups     []xGroupPair `xml:"groups>item"`
	IPRanges   []xIPRange   `xml:"ipRanges>item"`
	IPv6Ranges []xIPv6Range `xml:"ipv6Ranges>item"`
}

type xSecurityGroup struct {
	OwnerID     string          `xml:"ownerId"`
	GroupID     string          `xml:"groupId"`
	GroupName   string          `xml:"groupName"`
	Description string          `xml:"groupDescription"`
	VpcID       string          `xml:"vpcId"`
	Ingress     []xIPPermission `xml:"ipPermissions>item"`
	Egress      []xIPPermission `xml:"ipPermissionsEgress>item"`
	Tags        []xTag          `xml:"tagSet>item"`
	ARN         string          `xml:"securityGroupArn"`
}

func (h *handler) encodePermissions(rules []secgroup.Rule) []xIPPermission {
	var out []xIPPermission
	for _, p := range secgroup.Permissions(rules) {
		x := xIPPermission{IPProtocol: p.Protocol, FromPort: p.FromPort, ToPort: p.ToPort}
		for _, peer := range p.Peers {
			switch pfx, err := netip.ParsePrefix(peer.CIDR); {
			case peer.GroupID != "":
				x.Groups = append(x.Groups, xGroupPair{UserID: h.cfg.ELB.AccountID(), GroupID: peer.GroupID, Description: peer.Description})
			case err == nil && pfx.Addr().Is4():
				x.IPRanges = append(x.IPRanges, xIPRange{CidrIP: peer.CIDR, Description: peer.Description})
			default:
				x.IPv6Ranges = append(x.IPv6Ranges, xIPv6Range{CidrIPv6: peer.CIDR, Description: peer.Description})
			}
		}
		out = append(out, x)
	}
	return out
}

func groupTags(sg secgroup.SecurityGroup) []tag {
	out := make([]tag, 0, len(sg.Tags))
	for _, t := range sg.Tags {
		out = append(out, tag{Key: t.Key, Value: t.Value})
	}
	return out
}

func (h *handler) encodeGroup(sg secgroup.SecurityGroup) xSecurityGroup {
	return xSecurityGroup{
		OwnerID: sg.OwnerID, GroupID: sg.ID, GroupName: sg.Name, Description: sg.Description, VpcID: sg.VpcID,
		Ingress: h.encodePermissions(sg.Ingress), Egress: h.encodePermissions(sg.Egress),
		Tags: encodeTags(groupTags(sg)), ARN: h.ec2ARN("security-group/" + sg.ID),
	}
}

// groupFields are the values DescribeSecurityGroups filters on.
func groupFields(sg secgroup.SecurityGroup) fields {
	f := fields{"group-id": {sg.ID}, "group-name": {sg.Name}, "vpc-id": {sg.VpcID}, "description": {sg.Description}, "owner-id": {sg.OwnerID}}
	add := func(prefix string, rules []secgroup.Rule) {
		for _, r := range rules {
			f[prefix+"protocol"] = append(f[prefix+"protocol"], r.Protocol)
			if r.HasPorts() {
				f[prefix+"from-port"] = append(f[prefix+"from-port"], strconv.Itoa(int(r.FromPort)))
				f[prefix+"to-port"] = append(f[prefix+"to-port"], strconv.Itoa(int(r.ToPort)))
			}
			switch {
			case r.GroupID != "":
				f[prefix+"group-id"] = append(f[prefix+"group-id"], r.GroupID)
			case strings.Contains(r.CIDR, ":"):
				f[prefix+"ipv6-cidr"] = append(f[prefix+"ipv6-cidr"], r.CIDR)
			default:
				f[prefix+"cidr"] = append(f[prefix+"cidr"], r.CIDR)
			}
		}
	}
	add("ip-permission.", sg.Ingress)
	add("egress.ip-permission.", sg.Egress)
	return f
}

var groupFilterNames = func() []string {
	out := []string{"group-id", "group-name", "vpc-id", "description", "owner-id"}
	for _, prefix := range []string{"ip-permission.", "egress.ip-permission."} {
		for _, n := range []string{"protocol", "from-port", "to-port", "group-id", "cidr", "ipv6-cidr"} {
			out = append(out, prefix+n)
		}
	}
	return out
}()

type securityGroupsResponse struct {
	meta
	Groups    []xSecurityGroup `xml:"securityGroupInfo>item"`
	NextToken string           `xml:"nextToken,omitempty"`
}

func (h *handler) describeSecurityGroups(ctx context.Context, p elbapi.Params) (response, error) {
	filters, err := parseFilters(p, groupFilterNames...)
	if err != nil {
		return nil, err
	}
	ids, names := p.FlatList("GroupId"), p.FlatList("GroupName")
	for _, id := range ids {
		if err := secgroup.CheckID(id); err != nil {
			return nil, err
		}
	}
	all, err := h.cfg.Groups.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if !slices.ContainsFunc(all, func(sg secgroup.SecurityGroup) bool { return sg.ID == id }) {
			return nil, errorf(secgroup.CodeGroupNotFound, "The security group '%s' does not exist", id)
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(all, func(sg secgroup.SecurityGroup) bool { return sg.Name == n }) {
			return nil, errorf(secgroup.CodeGroupNotFound, "The security group '%s' does not exist in default VPC '%s'", n, h.cfg.Groups.VpcID())
		}
	}
	var groups []secgroup.SecurityGroup
	for _, sg := range all {
		if (len(ids) > 0 || len(names) > 0) && !slices.Contains(ids, sg.ID) && !slices.Contains(names, sg.Name) {
			continue
		}
		if match(filters, groupFields(sg), groupTags(sg)) {
			groups = append(groups, sg)
		}
	}
	page, next, err := paginate(groups, p, 5, func(sg secgroup.SecurityGroup) string { return sg.ID })
	if err != nil {
		return nil, err
	}
	out := &securityGroupsResponse{Groups: []xSecurityGroup{}, NextToken: next}
	for _, sg := range page {
		out.Groups = append(out.Groups, h.encodeGroup(sg))
	}
	return out, nil
}

// decodeTagSpecifications reads the tags of TagSpecification.N whose
// ResourceType is resourceType.
func decodeTagSpecifications(p elbapi.Params, resourceType string) ([]secgroup.Tag, error) {
	var out []secgroup.Tag
	for _, spec := range p.FlatStructList("TagSpecification") {
		if rt := spec.String("ResourceType"); rt != resourceType {
			return nil, errorf("InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", rt)
		}
		out = append(out, decodeTags(spec, "Tag")...)
	}
	return out, nil
}

func decodeTags(p elbapi.Params, key string) []secgroup.Tag {
	var out []secgroup.Tag
	for _, t := range p.FlatStructList(key) {
		out = append(out, secgroup.Tag{Key: t.String("Key"), Value: t.String("Value")})
	}
	return out
}

type createSecurityGroupResponse struct {
	meta
	GroupID string `xml:"groupId"`
	Tags    []xTag `xml:"tagSet>item"`
	ARN     string `xml:"securityGroupArn"`
}

func (h *handler) createSecurityGroup(ctx context.Context, p elbapi.Params) (response, error) {
	tags, err := decodeTagSpecifications(p, "security-group")
	if err != nil {
		return nil, err
	}
	sg, err := h.cfg.Groups.Create(ctx, secgroup.CreateInput{
		Name: p.String("GroupName"), Description: p.String("GroupDescription"), VpcID: p.String("VpcId"), Tags: tags,
	})
	if err != nil {
		return nil, err
	}
	return &createSecurityGroupResponse{GroupID: sg.ID, Tags: encodeTags(groupTags(sg)), ARN: h.ec2ARN("security-group/" + sg.ID)}, nil
}

type deleteSecurityGroupResponse struct {
	meta
	Return  bool   `xml:"return"`
	GroupID string `xml:"groupId"`
}

func groupRef(p elbapi.Params) secgroup.Ref {
	return secgroup.Ref{ID: p.String("GroupId"), Name: p.String("GroupName")}
}

func (h *handler) deleteSecurityGroup(ctx context.Context, p elbapi.Params) (response, error) {
	id, err := h.cfg.Groups.Delete(ctx, groupRef(p))
	if err != nil {
		return nil, err
	}
	return &deleteSecurityGroupResponse{Return: true, GroupID: id}, nil
}

// port reads an optional port parameter.
func port(p elbapi.Params, key string) (*int32, error) {
	v, ok, err := p.Int32(key)
	if err != nil {
		return nil, errorf("InvalidParameterValue", "Invalid value '%s' for %s", p.String(key), key)
	}
	if !ok {
		return nil, nil
	}
	return &v, nil
}

// decodePermissions reads IpPermissions.N, and the single permission of
// the older top-level parameters (IpProtocol, FromPort, ToPort, CidrIp,
// SourceSecurityGroupName) when given.
func (h *handler) decodePermissions(ctx context.Context, p elbapi.Params) ([]secgroup.Permission, error) {
	var out []secgroup.Permission
	var names []string // referenced groups given by name
	for _, pp := range p.FlatStructList("IpPermissions") {
		perm := secgroup.Permission{Protocol: pp.String("IpProtocol")}
		var err error
		if perm.FromPort, err = port(pp, "FromPort"); err != nil {
			return nil, err
		}
		if perm.ToPort, err = port(pp, "ToPort"); err != nil {
			return nil, err
		}
		for _, r := range pp.FlatStructList("IpRanges") {
			perm.Peers = append(perm.Peers, secgroup.Peer{CIDR: r.String("CidrIp"), Description: r.String("Description")})
		}
		for _, r := range pp.FlatStructList("Ipv6Ranges") {
			perm.Peers = append(perm.Peers, secgroup.Peer{CIDR: r.String("CidrIpv6"), Description: r.String("Description")})
		}
		// EC2's wire name of UserIdGroupPairs is Groups.
		for _, r := range pp.FlatStructList("Groups") {
			id := r.String("GroupId")
			if id == "" && r.String("GroupName") != "" {
				id = "name:" + r.String("GroupName")
				names = append(names, r.String("GroupName"))
			}
			perm.Peers = append(perm.Peers, secgroup.Peer{GroupID: id, Description: r.String("Description")})
		}
		for _, r := range pp.FlatStructList("PrefixListIds") {
			perm.PrefixLists = append(perm.PrefixLists, r.String("PrefixListId"))
		}
		out = append(out, perm)
	}
	if p.Has("IpProtocol") || p.Has("CidrIp") || p.Has("SourceSecurityGroupName") {
		perm := secgroup.Permission{Protocol: p.String("IpProtocol")}
		if perm.Protocol == "" {
			perm.Protocol = secgroup.ProtocolAll
		}
		var err error
		if perm.FromPort, err = port(p, "FromPort"); err != nil {
			return nil, err
		}
		if perm.ToPort, err = port(p, "ToPort"); err != nil {
			return nil, err
		}
		if c := p.String("CidrIp"); c != "" {
			perm.Peers = append(perm.Peers, secgroup.Peer{CIDR: c})
		}
		if n := p.String("SourceSecurityGroupName"); n != "" {
			perm.Peers = append(perm.Peers, secgroup.Peer{GroupID: "name:" + n})
			names = append(names, n)
		}
		out = append(out, perm)
	}
	if len(names) == 0 {
		return out, nil
	}
	// Groups given by name become ids; Authorize checks again, inside its
	// transaction, that they exist.
	all, err := h.cfg.Groups.List(ctx)
	if err != nil {
		return nil, err
	}
	for i := range out {
		for j, peer := range out[i].Peers {
			name, ok := strings.CutPrefix(peer.GroupID, "name:")
			if !ok {
				continue
			}
			k := slices.IndexFunc(all, func(sg secgroup.SecurityGroup) bool { return sg.Name == name })
			if k < 0 {
				return nil, errorf(secgroup.CodeGroupNotFound, "The security group '%s' does not exist in default VPC '%s'", name, h.cfg.Groups.VpcID())
			}
			out[i].Peers[j].GroupID = all[k].ID
		}
	}
	return out, nil
}

type xReferencedGroup struct {
	GroupID string `xml:"groupId"`
	UserID  string `xml:"userId"`
}

type xSecurityGroupRule struct {
	ID           string            `xml:"securityGroupRuleId"`
	GroupID      string            `xml:"groupId"`
	GroupOwnerID string            `xml:"groupOwnerId"`
	IsEgress     bool              `xml:"isEgress"`
	IPProtocol   string            `xml:"ipProtocol"`
	FromPort     int32             `xml:"fromPort"`
	ToPort       int32             `xml:"toPort"`
	CidrIPv4     string            `xml:"cidrIpv4,omitempty"`
	CidrIPv6     string            `xml:"cidrIpv6,omitempty"`
	Referenced   *xReferencedGroup `xml:"referencedGroupInfo,omitempty"`
	Description  string            `xml:"description,omitempty"`
	ARN          string            `xml:"securityGroupRuleArn"`
}

type authorizeResponse struct {
	meta
	Return bool                 `xml:"return"`
	Rules  []xSecurityGroupRule `xml:"securityGroupRuleSet>item"`
}

func (h *handler) authorize(egress bool) opFunc {
	return func(ctx context.Context, p elbapi.Params) (response, error) {
		perms, err := h.decodePermissions(ctx, p)
		if err != nil {
			return nil, err
		}
		if len(perms) == 0 {
			return nil, errorf(secgroup.CodeMissingParameter, "The request must contain the parameter ipPermissions")
		}
		id, rules, err := h.cfg.Groups.Authorize(ctx, groupRef(p), egress, perms)
		if err != nil {
			return nil, err
		}
		out := &authorizeResponse{Return: true}
		for _, r := range rules {
			x := xSecurityGroupRule{ID: r.ID, GroupID: id, GroupOwnerID: h.cfg.ELB.AccountID(), IsEgress: egress,
				IPProtocol: r.Protocol, FromPort: -1, ToPort: -1, Description: r.Description, ARN: h.ec2ARN("security-group-rule/" + r.ID)}
			if r.HasPorts() {
				x.FromPort, x.ToPort = r.FromPort, r.ToPort
			}
			switch {
			case r.GroupID != "":
				x.Referenced = &xReferencedGroup{GroupID: r.GroupID, UserID: h.cfg.ELB.AccountID()}
			case strings.Contains(r.CIDR, ":"):
				x.CidrIPv6 = r.CIDR
			default:
				x.CidrIPv4 = r.CIDR
			}
			out.Rules = append(out.Rules, x)
		}
		return out, nil
	}
}

func (h *handler) revoke(egress bool) opFunc {
	return func(ctx context.Context, p elbapi.Params) (response, error) {
		perms, err := h.decodePermissions(ctx, p)
		if err != nil {
			return nil, err
		}
		if err := h.cfg.Groups.Revoke(ctx, groupRef(p), egress, perms, p.FlatList("SecurityGroupRuleId")); err != nil {
			return nil, err
		}
		return &returnResponse{Return: true}, nil
	}
}

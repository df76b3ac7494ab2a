package ec2api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elbapi"
)

// Subnet tags the Load Balancer Controller's subnet discovery reads.
const (
	TagRoleELB         = "kubernetes.io/role/elb"
	TagRoleInternalELB = "kubernetes.io/role/internal-elb"
)

// reservedPerSubnet are the addresses AWS keeps in every subnet.
const reservedPerSubnet = 5

type xTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

func encodeTags(tags []tag) []xTag {
	out := make([]xTag, 0, len(tags))
	for _, t := range tags {
		out = append(out, xTag{Key: t.Key, Value: t.Value})
	}
	return out
}

// stableID returns prefix and 17 hex digits derived from parts.
func stableID(prefix string, parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "/")))
	return prefix + hex.EncodeToString(sum[:])[:17]
}

func (h *handler) ec2ARN(resource string) string {
	return "arn:aws:ec2:" + h.cfg.ELB.Region() + ":" + h.cfg.ELB.AccountID() + ":" + resource
}

type xCidrAssociation struct {
	AssociationID string `xml:"associationId"`
	CidrBlock     string `xml:"cidrBlock"`
	State         string `xml:"cidrBlockState>state"`
}

type xIpv6Association struct {
	AssociationID string `xml:"associationId"`
	CidrBlock     string `xml:"ipv6CidrBlock"`
	State         string `xml:"ipv6CidrBlockState>state"`
}

type xVpc struct {
	VpcID           string             `xml:"vpcId"`
	OwnerID         string             `xml:"ownerId"`
	State           string             `xml:"state"`
	CidrBlock       string             `xml:"cidrBlock"`
	CidrBlocks      []xCidrAssociation `xml:"cidrBlockAssociationSet>item"`
	Ipv6CidrBlocks  []xIpv6Association `xml:"ipv6CidrBlockAssociationSet>item"`
	DhcpOptionsID   string             `xml:"dhcpOptionsId"`
	InstanceTenancy string             `xml:"instanceTenancy"`
	IsDefault       bool               `xml:"isDefault"`
	Tags            []xTag             `xml:"tagSet>item"`
}

type vpcsResponse struct {
	meta
	Vpcs      []xVpc `xml:"vpcSet>item"`
	NextToken string `xml:"nextToken,omitempty"`
}

// describeVpcs answers the one VPC: its id (--vpc-id) and networks
// (--vpc-cidr).
func (h *handler) describeVpcs(_ context.Context, p elbapi.Params) (response, error) {
	filters, err := parseFilters(p, "vpc-id", "cidr", "cidr-block-association.cidr-block", "ipv6-cidr-block-association.ipv6-cidr-block", "state", "is-default", "owner-id", "dhcp-options-id")
	if err != nil {
		return nil, err
	}
	id := h.cfg.ELB.VpcID()
	for _, want := range p.FlatList("VpcId") {
		if want != id {
			return nil, errorf("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", want)
		}
	}
	v := xVpc{VpcID: id, OwnerID: h.cfg.ELB.AccountID(), State: "available", DhcpOptionsID: "default", InstanceTenancy: "default", Tags: []xTag{}}
	f := fields{"vpc-id": {id}, "state": {"available"}, "is-default": {"false"}, "owner-id": {v.OwnerID}, "dhcp-options-id": {"default"}}
	for _, c := range h.cfg.ELB.VPCCIDRs() {
		assoc := stableID("vpc-cidr-assoc-", id, c.String())
		if c.Addr().Is4() {
			if v.CidrBlock == "" {
				v.CidrBlock = c.String()
				f["cidr"] = []string{c.String()}
			}
			v.CidrBlocks = append(v.CidrBlocks, xCidrAssociation{AssociationID: assoc, CidrBlock: c.String(), State: "associated"})
			f["cidr-block-association.cidr-block"] = append(f["cidr-block-association.cidr-block"], c.String())
		} else {
			v.Ipv6CidrBlocks = append(v.Ipv6CidrBlocks, xIpv6Association{AssociationID: assoc, CidrBlock: c.String(), State: "associated"})
			f["ipv6-cidr-block-association.ipv6-cidr-block"] = append(f["ipv6-cidr-block-association.ipv6-cidr-block"], c.String())
		}
	}
	out := &vpcsResponse{Vpcs: []xVpc{}}
	if match(filters, f, nil) {
		out.Vpcs = append(out.Vpcs, v)
	}
	return out, nil
}

// zoneID is kelb's id of the index-th zone, in AWS's form (usw2-az1 for
// the first zone of us-west-2).
func zoneID(region string, index int) string {
	parts := strings.Split(region, "-")
	short := parts[0]
	for _, p := range parts[1:] {
		if _, err := strconv.Atoi(p); err == nil {
			short += p
		} else if p != "" {
			short += p[:1]
		}
	}
	return fmt.Sprintf("%s-az%d", short, index+1)
}

// subnetTags are the tags of every subnet: the roles that make the Load
// Balancer Controller pick it for internet-facing and internal load
// balancers.
func subnetTags() []tag {
	return []tag{{Key: TagRoleELB, Value: "1"}, {Key: TagRoleInternalELB, Value: "1"}}
}

type xSubnet struct {
	SubnetID                string             `xml:"subnetId"`
	SubnetArn               string             `xml:"subnetArn"`
	State                   string             `xml:"state"`
	OwnerID                 string             `xml:"ownerId"`
	VpcID                   string             `xml:"vpcId"`
	CidrBlock               string             `xml:"cidrBlock,omitempty"`
	Ipv6CidrBlocks          []xIpv6Association `xml:"ipv6CidrBlockAssociationSet>item"`
	AvailableIPAddressCount int                `xml:"availableIpAddressCount"`
	AvailabilityZone        string             `xml:"availabilityZone"`
	AvailabilityZoneID      string             `xml:"availabilityZoneId"`
	DefaultForAz            bool               `xml:"defaultForAz"`
	MapPublicIPOnLaunch     bool               `xml:"mapPublicIpOnLaunch"`
	Tags                    []xTag             `xml:"tagSet>item"`
}

type subnetsResponse struct {
	meta
	Subnets   []xSubnet `xml:"subnetSet>item"`
	NextToken string    `xml:"nextToken,omitempty"`
}

// describeSubnets answers each kelb zone as a subnet whose CIDR is the
// zone's load balancer address pool, with the zone's IPv6 pool as its IPv6
// CIDR block.
func (h *handler) describeSubnets(ctx context.Context, p elbapi.Params) (response, error) {
	filters, err := parseFilters(p, "vpc-id", "subnet-id", "subnet-arn", "availability-zone", "availability-zone-id", "cidr-block", "cidr", "cidrBlock", "state", "default-for-az", "owner-id", "ipv6-cidr-block-association.ipv6-cidr-block")
	if err != nil {
		return nil, err
	}
	zones := h.cfg.ELB.Zones()
	ids := p.FlatList("SubnetId")
	for _, id := range ids {
		if !slices.ContainsFunc(zones, func(z elb.Zone) bool { return z.SubnetID == id }) {
			return nil, errorf("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
		}
	}
	st, err := h.cfg.ELB.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	used := map[string]int{}
	for _, lb := range st.LoadBalancers {
		for _, z := range lb.Zones {
			used[z.Zone]++
		}
	}
	var subnets []xSubnet
	for i, z := range zones {
		if len(ids) > 0 && !slices.Contains(ids, z.SubnetID) {
			continue
		}
		s := xSubnet{
			SubnetID: z.SubnetID, SubnetArn: h.ec2ARN("subnet/" + z.SubnetID), State: "available",
			OwnerID: h.cfg.ELB.AccountID(), VpcID: h.cfg.ELB.VpcID(),
			AvailabilityZone: z.Name, AvailabilityZoneID: zoneID(h.cfg.ELB.Region(), i),
			Tags: encodeTags(subnetTags()),
		}
		size := math.Pow(2, float64(z.Pool.Addr().BitLen()-z.Pool.Bits()))
		s.AvailableIPAddressCount = int(max(min(size, math.MaxInt32)-reservedPerSubnet-float64(used[z.Name]), 0))
		f := fields{"vpc-id": {s.VpcID}, "subnet-id": {s.SubnetID}, "subnet-arn": {s.SubnetArn}, "availability-zone": {z.Name},
			"availability-zone-id": {s.AvailabilityZoneID}, "state": {"available"}, "default-for-az": {"false"}, "owner-id": {s.OwnerID}}
		if z.Pool.Addr().Is4() {
			s.CidrBlock = z.Pool.String()
			f["cidr-block"], f["cidr"], f["cidrBlock"] = []string{s.CidrBlock}, []string{s.CidrBlock}, []string{s.CidrBlock}
		} else {
			s.Ipv6CidrBlocks = []xIpv6Association{{AssociationID: stableID("subnet-cidr-assoc-", z.SubnetID), CidrBlock: z.Pool.String(), State: "associated"}}
		}
		if z.IPv6Pool.IsValid() {
			s.Ipv6CidrBlocks = append(s.Ipv6CidrBlocks, xIpv6Association{AssociationID: stableID("subnet-cidr-assoc-", z.SubnetID+"/ipv6"), CidrBlock: z.IPv6Pool.String(), State: "associated"})
		}
		for _, b := range s.Ipv6CidrBlocks {
			f["ipv6-cidr-block-association.ipv6-cidr-block"] = append(f["ipv6-cidr-block-association.ipv6-cidr-block"], b.CidrBlock)
		}
		if match(filters, f, subnetTags()) {
			subnets = append(subnets, s)
		}
	}
	slices.SortFunc(subnets, func(a, b xSubnet) int { return strings.Compare(a.SubnetID, b.SubnetID) })
	page, next, err := paginate(subnets, p, 5, func(s xSubnet) string { return s.SubnetID })
	if err != nil {
		return nil, err
	}
	return &subnetsResponse{Subnets: page, NextToken: next}, nil
}

type xAvailabilityZone struct {
	ZoneName           string `xml:"zoneName"`
	ZoneID             string `xml:"zoneId"`
	State              string `xml:"zoneState"`
	RegionName         string `xml:"regionName"`
	GroupName          string `xml:"groupName"`
	NetworkBorderGroup string `xml:"networkBorderGroup"`
	OptInStatus        string `xml:"optInStatus"`
	ZoneType           string `xml:"zoneType"`
}

type availabilityZonesResponse struct {
	meta
	Zones []xAvailabilityZone `xml:"availabilityZoneInfo>item"`
}

// describeAvailabilityZones answers kelb's zones.
func (h *handler) describeAvailabilityZones(_ context.Context, p elbapi.Params) (response, error) {
	filters, err := parseFilters(p, "zone-name", "zone-id", "region-name", "state", "zone-type", "group-name", "opt-in-status")
	if err != nil {
		return nil, err
	}
	region := h.cfg.ELB.Region()
	names, ids := p.FlatList("ZoneName"), p.FlatList("ZoneId")
	zones := h.cfg.ELB.Zones()
	for _, n := range names {
		if !slices.ContainsFunc(zones, func(z elb.Zone) bool { return z.Name == n }) {
			return nil, errorf("InvalidParameterValue", "Invalid availability zone: [%s]", n)
		}
	}
	known := map[string]bool{}
	for i := range zones {
		known[zoneID(region, i)] = true
	}
	for _, id := range ids {
		if !known[id] {
			return nil, errorf("InvalidParameterValue", "Invalid availability zone ID: [%s]", id)
		}
	}
	out := &availabilityZonesResponse{Zones: []xAvailabilityZone{}}
	for i, z := range zones {
		az := xAvailabilityZone{ZoneName: z.Name, ZoneID: zoneID(region, i), State: "available", RegionName: region,
			GroupName: region, NetworkBorderGroup: region, OptInStatus: "opt-in-not-required", ZoneType: "availability-zone"}
		if (len(names) > 0 || len(ids) > 0) && !slices.Contains(names, az.ZoneName) && !slices.Contains(ids, az.ZoneID) {
			continue
		}
		f := fields{"zone-name": {az.ZoneName}, "zone-id": {az.ZoneID}, "region-name": {region}, "state": {"available"},
			"zone-type": {az.ZoneType}, "group-name": {az.GroupName}, "opt-in-status": {az.OptInStatus}}
		if match(filters, f, nil) {
			out.Zones = append(out.Zones, az)
		}
	}
	return out, nil
}

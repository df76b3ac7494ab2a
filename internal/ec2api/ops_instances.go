package ec2api

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"

	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elbapi"
	"github.com/kelb-io/kelb/internal/secgroup"
)

// Instances are kelb server's --instance nodes: each running, in the
// subnet of its zone, with one network interface that carries its address,
// the prefixes delegated to it (its pods' networks, as VPC CNI's prefix
// delegation gives them) and the VPC's default security group. That is
// what the AWS Load Balancer Controller reads to find the security group
// of a node (instance targets) and of a pod (ip targets) it opens to its
// load balancers.

type xGroupIdentifier struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

type xInstanceState struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type xPrivateIP struct {
	PrivateIPAddress string `xml:"privateIpAddress"`
	PrivateDNSName   string `xml:"privateDnsName"`
	Primary          bool   `xml:"primary"`
}

type xIpv4Prefix struct {
	Prefix string `xml:"ipv4Prefix"`
}

type xIpv6Prefix struct {
	Prefix string `xml:"ipv6Prefix"`
}

type xAttachment struct {
	AttachmentID        string `xml:"attachmentId"`
	InstanceID          string `xml:"instanceId,omitempty"`
	InstanceOwnerID     string `xml:"instanceOwnerId,omitempty"`
	DeviceIndex         int    `xml:"deviceIndex"`
	Status              string `xml:"status"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

// xNetworkInterface is an instance's network interface as both
// DescribeInstances (networkInterfaceSet) and DescribeNetworkInterfaces
// (networkInterfaceSet) answer it; the elements one of them lacks are
// ignored by clients of the other.
type xNetworkInterface struct {
	NetworkInterfaceID string             `xml:"networkInterfaceId"`
	SubnetID           string             `xml:"subnetId"`
	VpcID              string             `xml:"vpcId"`
	AvailabilityZone   string             `xml:"availabilityZone,omitempty"`
	Description        string             `xml:"description"`
	OwnerID            string             `xml:"ownerId"`
	Status             string             `xml:"status"`
	MacAddress         string             `xml:"macAddress"`
	PrivateIPAddress   string             `xml:"privateIpAddress"`
	PrivateDNSName     string             `xml:"privateDnsName"`
	SourceDestCheck    bool               `xml:"sourceDestCheck"`
	InterfaceType      string             `xml:"interfaceType"`
	Groups             []xGroupIdentifier `xml:"groupSet>item"`
	Attachment         xAttachment        `xml:"attachment"`
	PrivateIPAddresses []xPrivateIP       `xml:"privateIpAddressesSet>item"`
	Ipv4Prefixes       []xIpv4Prefix      `xml:"ipv4PrefixSet>item"`
	Ipv6Prefixes       []xIpv6Prefix      `xml:"ipv6PrefixSet>item"`
	Tags               []xTag             `xml:"tagSet>item,omitempty"`
}

type xPlacement struct {
	AvailabilityZone string `xml:"availabilityZone"`
	Tenancy          string `xml:"tenancy"`
}

type xInstance struct {
	InstanceID        string              `xml:"instanceId"`
	ImageID           string              `xml:"imageId"`
	State             xInstanceState      `xml:"instanceState"`
	PrivateDNSName    string              `xml:"privateDnsName"`
	DNSName           string              `xml:"dnsName"`
	InstanceType      string              `xml:"instanceType"`
	Placement         xPlacement          `xml:"placement"`
	SubnetID          string              `xml:"subnetId"`
	VpcID             string              `xml:"vpcId"`
	PrivateIPAddress  string              `xml:"privateIpAddress"`
	Architecture      string              `xml:"architecture"`
	RootDeviceType    string              `xml:"rootDeviceType"`
	Groups            []xGroupIdentifier  `xml:"groupSet>item"`
	NetworkInterfaces []xNetworkInterface `xml:"networkInterfaceSet>item"`
	Tags              []xTag              `xml:"tagSet>item"`
}

type xReservation struct {
	ReservationID string      `xml:"reservationId"`
	OwnerID       string      `xml:"ownerId"`
	Instances     []xInstance `xml:"instancesSet>item"`
}

type instancesResponse struct {
	meta
	Reservations []xReservation `xml:"reservationSet>item"`
	NextToken    string         `xml:"nextToken,omitempty"`
}

// privateDNSName is EC2's private DNS name of an address in region
// (ip-198-18-0-11.us-west-2.compute.internal).
func privateDNSName(region, addr string) string {
	return "ip-" + strings.NewReplacer(".", "-", ":", "-").Replace(addr) + "." + region + ".compute.internal"
}

// macAddress is a stable, locally administered MAC for an interface id.
func macAddress(id string) string {
	sum := sha256.Sum256([]byte(id))
	return fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", sum[0], sum[1], sum[2], sum[3], sum[4])
}

// instanceInterface is the network interface of instance in.
func (h *handler) instanceInterface(in elb.InstanceInfo, group xGroupIdentifier) xNetworkInterface {
	region := h.cfg.ELB.Region()
	addr := in.Address.String()
	eni := stableID("eni-", in.ID)
	x := xNetworkInterface{
		NetworkInterfaceID: eni, SubnetID: in.SubnetID, VpcID: h.cfg.ELB.VpcID(), AvailabilityZone: in.Zone,
		Description: "", OwnerID: h.cfg.ELB.AccountID(), Status: "in-use", MacAddress: macAddress(eni),
		PrivateIPAddress: addr, PrivateDNSName: privateDNSName(region, addr), SourceDestCheck: true, InterfaceType: "interface",
		Groups:             []xGroupIdentifier{group},
		Attachment:         xAttachment{AttachmentID: stableID("eni-attach-", in.ID), InstanceID: in.ID, InstanceOwnerID: h.cfg.ELB.AccountID(), Status: "attached", DeleteOnTermination: true},
		PrivateIPAddresses: []xPrivateIP{{PrivateIPAddress: addr, PrivateDNSName: privateDNSName(region, addr), Primary: true}},
	}
	for _, p := range in.Prefixes {
		if p.Addr().Is4() {
			x.Ipv4Prefixes = append(x.Ipv4Prefixes, xIpv4Prefix{Prefix: p.String()})
		} else {
			x.Ipv6Prefixes = append(x.Ipv6Prefixes, xIpv6Prefix{Prefix: p.String()})
		}
	}
	return x
}

// instanceFields are the filter values of an instance.
func instanceFields(x xInstance) fields {
	eni := x.NetworkInterfaces[0]
	f := fields{
		"instance-id": {x.InstanceID}, "vpc-id": {x.VpcID}, "subnet-id": {x.SubnetID},
		"availability-zone": {x.Placement.AvailabilityZone}, "private-ip-address": {x.PrivateIPAddress},
		"private-dns-name": {x.PrivateDNSName}, "instance-state-name": {x.State.Name},
		"instance-state-code": {fmt.Sprint(x.State.Code)}, "instance-type": {x.InstanceType},
		"network-interface.network-interface-id":             {eni.NetworkInterfaceID},
		"network-interface.addresses.private-ip-address":     {eni.PrivateIPAddress},
		"instance.group-id":                                  {eni.Groups[0].GroupID},
		"instance.group-name":                                {eni.Groups[0].GroupName},
		"network-interface.group-id":                         {eni.Groups[0].GroupID},
		"network-interface.subnet-id":                        {eni.SubnetID},
		"network-interface.vpc-id":                           {eni.VpcID},
		"network-interface.private-dns-name":                 {eni.PrivateDNSName},
		"network-interface.addresses.primary":                {"true"},
		"network-interface.attachment.status":                {"attached"},
		"network-interface.attachment.device-index":          {"0"},
		"network-interface.attachment.delete-on-termination": {"true"},
	}
	return f
}

var instanceFilterNames = []string{"instance-id", "vpc-id", "subnet-id", "availability-zone", "private-ip-address",
	"private-dns-name", "instance-state-name", "instance-state-code", "instance-type",
	"network-interface.network-interface-id", "network-interface.addresses.private-ip-address",
	"instance.group-id", "instance.group-name", "network-interface.group-id", "network-interface.subnet-id",
	"network-interface.vpc-id", "network-interface.private-dns-name", "network-interface.addresses.primary",
	"network-interface.attachment.status", "network-interface.attachment.device-index",
	"network-interface.attachment.delete-on-termination"}

// describeInstances answers the configured instances, one per
// reservation, sorted by id. An unknown id in InstanceId.N fails the
// request with InvalidInstanceID.NotFound, a malformed one with
// InvalidInstanceID.Malformed, as EC2 does.
func (h *handler) describeInstances(_ context.Context, p elbapi.Params) (response, error) {
	filters, err := parseFilters(p, instanceFilterNames...)
	if err != nil {
		return nil, err
	}
	ids := p.FlatList("InstanceId")
	if len(ids) > 0 && p.String("MaxResults") != "" {
		return nil, errorf("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	all := h.cfg.ELB.Instances()
	var missing []string
	for _, id := range ids {
		if elb.CheckInstanceID(id) != nil {
			return nil, errorf("InvalidInstanceID.Malformed", "Invalid id: \"%s\"", id)
		}
		if !slices.ContainsFunc(all, func(in elb.InstanceInfo) bool { return in.ID == id }) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, errorf("InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(missing, ", "))
	}
	region := h.cfg.ELB.Region()
	group := xGroupIdentifier{GroupID: secgroup.DefaultGroupID(h.cfg.ELB.VpcID()), GroupName: secgroup.DefaultName}
	var found []xReservation
	for _, in := range all {
		if len(ids) > 0 && !slices.Contains(ids, in.ID) {
			continue
		}
		addr := in.Address.String()
		x := xInstance{
			InstanceID: in.ID, ImageID: "ami-00000000000000000", State: xInstanceState{Code: 16, Name: "running"},
			PrivateDNSName: privateDNSName(region, addr), InstanceType: "m5.large",
			Placement: xPlacement{AvailabilityZone: in.Zone, Tenancy: "default"}, SubnetID: in.SubnetID,
			VpcID: h.cfg.ELB.VpcID(), PrivateIPAddress: addr, Architecture: "x86_64", RootDeviceType: "ebs",
			Groups:            []xGroupIdentifier{group},
			NetworkInterfaces: []xNetworkInterface{h.instanceInterface(in, group)},
			Tags:              []xTag{},
		}
		x.NetworkInterfaces[0].AvailabilityZone = "" // not part of an instance's interface
		if !match(filters, instanceFields(x), nil) {
			continue
		}
		found = append(found, xReservation{ReservationID: stableID("r-", in.ID), OwnerID: h.cfg.ELB.AccountID(), Instances: []xInstance{x}})
	}
	slices.SortFunc(found, func(a, b xReservation) int {
		return strings.Compare(a.Instances[0].InstanceID, b.Instances[0].InstanceID)
	})
	page, next, err := paginate(found, p, 5, func(r xReservation) string { return r.Instances[0].InstanceID })
	if err != nil {
		return nil, err
	}
	return &instancesResponse{Reservations: page, NextToken: next}, nil
}

type networkInterfacesResponse struct {
	meta
	NetworkInterfaces []xNetworkInterface `xml:"networkInterfaceSet>item"`
	NextToken         string              `xml:"nextToken,omitempty"`
}

var networkInterfaceFilterNames = []string{"network-interface-id", "vpc-id", "subnet-id", "availability-zone",
	"addresses.private-ip-address", "private-ip-address", "private-dns-name", "attachment.instance-id",
	"attachment.status", "group-id", "group-name", "status", "interface-type", "owner-id"}

// describeNetworkInterfaces answers the network interfaces of the
// configured instances (the only ones kelb has). An unknown id in
// NetworkInterfaceId.N fails the request with
// InvalidNetworkInterfaceID.NotFound, as EC2 does.
func (h *handler) describeNetworkInterfaces(_ context.Context, p elbapi.Params) (response, error) {
	filters, err := parseFilters(p, networkInterfaceFilterNames...)
	if err != nil {
		return nil, err
	}
	group := xGroupIdentifier{GroupID: secgroup.DefaultGroupID(h.cfg.ELB.VpcID()), GroupName: secgroup.DefaultName}
	var all []xNetworkInterface
	for _, in := range h.cfg.ELB.Instances() {
		all = append(all, h.instanceInterface(in, group))
	}
	ids := p.FlatList("NetworkInterfaceId")
	for _, id := range ids {
		if !strings.HasPrefix(id, "eni-") {
			return nil, errorf("InvalidNetworkInterfaceID.Malformed", "Invalid id: \"%s\" (expecting \"eni-...\")", id)
		}
		if !slices.ContainsFunc(all, func(x xNetworkInterface) bool { return x.NetworkInterfaceID == id }) {
			return nil, errorf("InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist", id)
		}
	}
	var found []xNetworkInterface
	for _, x := range all {
		if len(ids) > 0 && !slices.Contains(ids, x.NetworkInterfaceID) {
			continue
		}
		f := fields{"network-interface-id": {x.NetworkInterfaceID}, "vpc-id": {x.VpcID}, "subnet-id": {x.SubnetID},
			"availability-zone": {x.AvailabilityZone}, "addresses.private-ip-address": {x.PrivateIPAddress},
			"private-ip-address": {x.PrivateIPAddress}, "private-dns-name": {x.PrivateDNSName},
			"attachment.instance-id": {x.Attachment.InstanceID}, "attachment.status": {x.Attachment.Status},
			"group-id": {group.GroupID}, "group-name": {group.GroupName}, "status": {x.Status},
			"interface-type": {x.InterfaceType}, "owner-id": {x.OwnerID}}
		if match(filters, f, nil) {
			x.Tags = []xTag{}
			found = append(found, x)
		}
	}
	slices.SortFunc(found, func(a, b xNetworkInterface) int { return strings.Compare(a.NetworkInterfaceID, b.NetworkInterfaceID) })
	page, next, err := paginate(found, p, 5, func(x xNetworkInterface) string { return x.NetworkInterfaceID })
	if err != nil {
		return nil, err
	}
	return &networkInterfacesResponse{NetworkInterfaces: page, NextToken: next}, nil
}

package ec2api

import (
	"context"
	"slices"
	"strings"

	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elbapi"
	"github.com/kelb-io/kelb/internal/secgroup"
)

// checkTaggable splits out the security group ids of a CreateTags or
// DeleteTags request: kelb's subnets and VPC keep the tags of its
// configuration, and any other id is invalid.
func (h *handler) checkTaggable(ids []string) error {
	if len(ids) == 0 {
		return errorf(secgroup.CodeMissingParameter, "The request must contain the parameter resourceIdSet")
	}
	for _, id := range ids {
		switch {
		case strings.HasPrefix(id, "sg-"):
			if err := secgroup.CheckID(id); err != nil {
				return err
			}
		case id == h.cfg.ELB.VpcID() || slices.ContainsFunc(h.cfg.ELB.Zones(), func(z elb.Zone) bool { return z.SubnetID == id }):
			return errorf("UnsupportedOperation", "The tags of %s are kelb's configuration and cannot be changed through the API", id)
		default:
			return errorf("InvalidID", "The ID '%s' is not valid", id)
		}
	}
	return nil
}

func (h *handler) createTags(ctx context.Context, p elbapi.Params) (response, error) {
	ids := p.FlatList("ResourceId")
	if err := h.checkTaggable(ids); err != nil {
		return nil, err
	}
	tags := decodeTags(p, "Tag")
	if len(tags) == 0 {
		return nil, errorf(secgroup.CodeMissingParameter, "The request must contain the parameter tagSet")
	}
	if err := h.cfg.Groups.CreateTags(ctx, ids, tags); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

func (h *handler) deleteTags(ctx context.Context, p elbapi.Params) (response, error) {
	ids := p.FlatList("ResourceId")
	if err := h.checkTaggable(ids); err != nil {
		return nil, err
	}
	var removals []secgroup.TagRemoval
	for _, t := range p.FlatStructList("Tag") {
		removals = append(removals, secgroup.TagRemoval{Key: t.String("Key"), Value: t.StringPtr("Value")})
	}
	if err := h.cfg.Groups.DeleteTags(ctx, ids, removals); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

type xTagDescription struct {
	ResourceID   string `xml:"resourceId"`
	ResourceType string `xml:"resourceType"`
	Key          string `xml:"key"`
	Value        string `xml:"value"`
}

type tagsResponse struct {
	meta
	Tags      []xTagDescription `xml:"tagSet>item"`
	NextToken string            `xml:"nextToken,omitempty"`
}

// describeTags answers the tags of security groups and subnets.
func (h *handler) describeTags(ctx context.Context, p elbapi.Params) (response, error) {
	filters, err := parseFilters(p, "key", "value", "resource-id", "resource-type")
	if err != nil {
		return nil, err
	}
	var all []xTagDescription
	for _, z := range h.cfg.ELB.Zones() {
		for _, t := range subnetTags() {
			all = append(all, xTagDescription{ResourceID: z.SubnetID, ResourceType: "subnet", Key: t.Key, Value: t.Value})
		}
	}
	groups, err := h.cfg.Groups.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, sg := range groups {
		for _, t := range sg.Tags {
			all = append(all, xTagDescription{ResourceID: sg.ID, ResourceType: "security-group", Key: t.Key, Value: t.Value})
		}
	}
	var out []xTagDescription
	for _, t := range all {
		f := fields{"key": {t.Key}, "value": {t.Value}, "resource-id": {t.ResourceID}, "resource-type": {t.ResourceType}}
		if match(filters, f, nil) {
			out = append(out, t)
		}
	}
	key := func(t xTagDescription) string { return t.ResourceID + "\x00" + t.Key }
	slices.SortFunc(out, func(a, b xTagDescription) int { return strings.Compare(key(a), key(b)) })
	page, next, err := paginate(out, p, 5, key)
	if err != nil {
		return nil, err
	}
	return &tagsResponse{Tags: page, NextToken: next}, nil
}

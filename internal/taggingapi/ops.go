package taggingapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kelb-io/kelb/internal/awsjson"
)

// Limits of GetResources, as AWS's model gives them.
const (
	maxARNs          = 100
	maxTagFilters    = 50
	maxFilterValues  = 20
	maxTypeFilters   = 100
	maxTagKeyLen     = 128
	maxTagValueLen   = 256
	maxTypeFilterLen = 256
	// DefaultResourcesPerPage is a page's size when the request names
	// none.
	DefaultResourcesPerPage = 100
	maxResourcesPerPage     = 100
	minTagsPerPage          = 100
	maxTagsPerPage          = 500
	// tagKeysPerPage is the page size of GetTagKeys and GetTagValues,
	// which take none.
	tagKeysPerPage = 500
	// TokenLifetime is how long a PaginationToken may be used.
	TokenLifetime = 15 * time.Minute
)

// typeFilterPattern is service or service:resource-type as ARNs spell
// them (ec2, elasticloadbalancing:listener-rule).
var typeFilterPattern = regexp.MustCompile(`^[a-z0-9-]+(:[A-Za-z0-9-]+)?$`)

type getResourcesInput struct {
	PaginationToken *string
	TagFilters      []struct {
		Key    *string
		Values []string
	}
	ResourcesPerPage          *int32
	TagsPerPage               *int32
	ResourceTypeFilters       []string
	IncludeComplianceDetails  bool
	ExcludeCompliantResources bool
	ResourceARNList           []string
}

type tagOut struct {
	Key   string
	Value string
}

type complianceDetails struct {
	NoncompliantKeys           []string
	KeysWithNoncompliantValues []string
	ComplianceStatus           bool
}

type resourceTagMapping struct {
	ResourceARN       string
	Tags              []tagOut
	ComplianceDetails *complianceDetails `json:",omitempty"`
}

type getResourcesOutput struct {
	PaginationToken        string
	ResourceTagMappingList []resourceTagMapping
}

// query checks a GetResources request and returns the index query it
// asks for.
func (in *getResourcesInput) query() (Query, error) {
	if in.ResourceARNList != nil {
		switch {
		case len(in.TagFilters) > 0:
			return Query{}, invalid("You can't specify both ResourceARNList and TagFilters in the same request.")
		case len(in.ResourceTypeFilters) > 0:
			return Query{}, invalid("You can't specify both ResourceARNList and ResourceTypeFilters in the same request.")
		case in.ResourcesPerPage != nil || in.TagsPerPage != nil || in.PaginationToken != nil && *in.PaginationToken != "":
			return Query{}, invalid("You can't specify both ResourceARNList and any of the pagination parameters (ResourcesPerPage, TagsPerPage, PaginationToken) in the same request.")
		case len(in.ResourceARNList) == 0 || len(in.ResourceARNList) > maxARNs:
			return Query{}, invalid("ResourceARNList must have between 1 and %d ARNs; it has %d.", maxARNs, len(in.ResourceARNList))
		}
		for _, arn := range in.ResourceARNList {
			if ResourceType(arn) == "" || len(arn) > 1011 {
				return Query{}, invalid("%s is not a valid AmazonResourceName (ARN)", arn)
			}
		}
		return Query{ARNs: in.ResourceARNList}, nil
	}
	q := Query{}
	if len(in.TagFilters) > maxTagFilters {
		return q, invalid("TagFilters can include up to %d filters; the request has %d.", maxTagFilters, len(in.TagFilters))
	}
	for i, f := range in.TagFilters {
		if f.Key == nil || *f.Key == "" || utf8.RuneCountInString(*f.Key) > maxTagKeyLen {
			return q, invalid("TagFilters[%d].Key must be between 1 and %d characters long.", i, maxTagKeyLen)
		}
		if len(f.Values) > maxFilterValues {
			return q, invalid("TagFilters[%d] (Key %s) can include up to %d values; it has %d.", i, *f.Key, maxFilterValues, len(f.Values))
		}
		for _, v := range f.Values {
			if utf8.RuneCountInString(v) > maxTagValueLen {
				return q, invalid("TagFilters[%d] (Key %s): a value can be at most %d characters long.", i, *f.Key, maxTagValueLen)
			}
		}
		q.TagFilters = append(q.TagFilters, TagFilter{Key: *f.Key, Values: f.Values})
	}
	if len(in.ResourceTypeFilters) > maxTypeFilters {
		return q, invalid("ResourceTypeFilters can include up to %d resource types; the request has %d.", maxTypeFilters, len(in.ResourceTypeFilters))
	}
	for _, t := range in.ResourceTypeFilters {
		if len(t) > maxTypeFilterLen || !typeFilterPattern.MatchString(t) {
			return q, invalid("Unsupported resource type %q: a resource type filter is service or service:resource-type, as in the resource's ARN (elasticloadbalancing:loadbalancer, ec2:security-group).", t)
		}
	}
	q.Types = in.ResourceTypeFilters
	if n := in.ResourcesPerPage; n != nil && (*n < 1 || *n > maxResourcesPerPage) {
		return q, invalid("ResourcesPerPage must be between 1 and %d; it is %d.", maxResourcesPerPage, *n)
	}
	if n := in.TagsPerPage; n != nil && (*n < minTagsPerPage || *n > maxTagsPerPage) {
		return q, invalid("TagsPerPage must be between %d and %d; it is %d.", minTagsPerPage, maxTagsPerPage, *n)
	}
	if in.ExcludeCompliantResources && !in.IncludeComplianceDetails {
		return q, invalid("ExcludeCompliantResources can be used only if IncludeComplianceDetails is true.")
	}
	return q, nil
}

func (h *handler) getResources(ctx context.Context, body []byte) (any, error) {
	var in getResourcesInput
	if err := awsjson.Decode(body, &in); err != nil {
		return nil, err
	}
	q, err := in.query()
	if err != nil {
		return nil, err
	}
	digest := queryDigest("GetResources", q)
	after := ""
	if in.PaginationToken != nil && *in.PaginationToken != "" {
		if after, err = h.readToken(*in.PaginationToken, digest); err != nil {
			return nil, err
		}
	}
	found, err := h.cfg.Index.Find(ctx, q)
	if err != nil {
		return nil, err
	}
	out := &getResourcesOutput{ResourceTagMappingList: []resourceTagMapping{}}
	if in.ExcludeCompliantResources {
		// kelb has no tag policies: every resource is compliant.
		return out, nil
	}
	if after != "" {
		// found is sorted by ARN (no ARN list comes with a token).
		i, _ := slices.BinarySearchFunc(found, after, func(r Resource, arn string) int { return strings.Compare(r.ARN, arn) })
		for i < len(found) && found[i].ARN <= after {
			i++
		}
		found = found[i:]
	}
	perPage, tagsPerPage := DefaultResourcesPerPage, maxTagsPerPage*maxResourcesPerPage
	if in.ResourcesPerPage != nil {
		perPage = int(*in.ResourcesPerPage)
	}
	if in.TagsPerPage != nil {
		tagsPerPage = int(*in.TagsPerPage)
	}
	tags := 0
	for _, r := range found {
		n := max(len(r.Tags), 1) // a resource with no tags counts as one
		if len(out.ResourceTagMappingList) == perPage || len(out.ResourceTagMappingList) > 0 && tags+n > tagsPerPage {
			out.PaginationToken = h.newToken(out.ResourceTagMappingList[len(out.ResourceTagMappingList)-1].ResourceARN, digest)
			break
		}
		tags += n
		m := resourceTagMapping{ResourceARN: r.ARN, Tags: make([]tagOut, 0, len(r.Tags))}
		for _, t := range r.Tags {
			m.Tags = append(m.Tags, tagOut(t))
		}
		if in.IncludeComplianceDetails {
			m.ComplianceDetails = &complianceDetails{NoncompliantKeys: []string{}, KeysWithNoncompliantValues: []string{}, ComplianceStatus: true}
		}
		out.ResourceTagMappingList = append(out.ResourceTagMappingList, m)
	}
	return out, nil
}

func (h *handler) getTagKeys(ctx context.Context, body []byte) (any, error) {
	var in struct{ PaginationToken string }
	if err := awsjson.Decode(body, &in); err != nil {
		return nil, err
	}
	keys, err := h.cfg.Index.TagKeys(ctx)
	if err != nil {
		return nil, err
	}
	page, token, err := h.pageStrings(keys, in.PaginationToken, queryDigest("GetTagKeys", nil))
	if err != nil {
		return nil, err
	}
	return map[string]any{"TagKeys": page, "PaginationToken": token}, nil
}

func (h *handler) getTagValues(ctx context.Context, body []byte) (any, error) {
	var in struct {
		Key             *string
		PaginationToken string
	}
	if err := awsjson.Decode(body, &in); err != nil {
		return nil, err
	}
	if in.Key == nil || *in.Key == "" || utf8.RuneCountInString(*in.Key) > maxTagKeyLen {
		return nil, invalid("Key must be between 1 and %d characters long.", maxTagKeyLen)
	}
	values, err := h.cfg.Index.TagValues(ctx, *in.Key)
	if err != nil {
		return nil, err
	}
	page, token, err := h.pageStrings(values, in.PaginationToken, queryDigest("GetTagValues", *in.Key))
	if err != nil {
		return nil, err
	}
	return map[string]any{"TagValues": page, "PaginationToken": token}, nil
}

// pageStrings returns the page of sorted all after token, and the token
// of the next page ("" on the last).
func (h *handler) pageStrings(all []string, token, digest string) ([]string, string, error) {
	if token != "" {
		after, err := h.readToken(token, digest)
		if err != nil {
			return nil, "", err
		}
		i, found := slices.BinarySearch(all, after)
		if found {
			i++
		}
		all = all[i:]
	}
	if len(all) <= tagKeysPerPage {
		return append([]string{}, all...), "", nil
	}
	page := all[:tagKeysPerPage]
	return page, h.newToken(page[len(page)-1], digest), nil
}

// paginationToken is what a PaginationToken holds: where the next page
// starts, which query it continues and when it was issued.
type paginationToken struct {
	After  string `json:"a"`
	Query  string `json:"q"`
	Issued int64  `json:"t"`
}

// queryDigest names a query, so that a token is not used for another;
// the order of a filter's values and an empty list against none do not
// count.
func queryDigest(op string, q any) string {
	if query, ok := q.(Query); ok {
		norm := Query{Types: uniq(query.Types)}
		for _, f := range query.TagFilters {
			norm.TagFilters = append(norm.TagFilters, TagFilter{Key: f.Key, Values: uniq(f.Values)})
		}
		q = norm
	}
	b, _ := json.Marshal(struct {
		Op string
		Q  any
	}{op, q})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func (h *handler) newToken(after, digest string) string {
	b, _ := json.Marshal(paginationToken{After: after, Query: digest, Issued: h.cfg.Now().Unix()})
	return base64.RawURLEncoding.EncodeToString(b)
}

// readToken returns where the page a token asks for starts.
func (h *handler) readToken(token, digest string) (string, error) {
	var t paginationToken
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.After == "" || t.Issued == 0 {
		return "", invalid("The PaginationToken %q is not valid: pass the PaginationToken of the previous page unchanged.", token)
	}
	if t.Query != digest {
		return "", invalid("The PaginationToken was issued for another query: repeat the request with the parameters of the page it came from.")
	}
	if h.cfg.Now().Sub(time.Unix(t.Issued, 0)) > TokenLifetime {
		return "", &awsjson.Error{Status: http.StatusBadRequest, Code: "PaginationTokenExpiredException",
			Message: "The PaginationToken has expired: a PaginationToken is valid for a maximum of 15 minutes."}
	}
	return t.After, nil
}

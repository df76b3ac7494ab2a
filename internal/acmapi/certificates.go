package acmapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kelb-io/kelb/internal/awsjson"
	"github.com/kelb-io/kelb/internal/certstore"
)

type tag struct {
	Key   string
	Value *string `json:",omitempty"`
}

func storeTags(in []tag) []certstore.Tag {
	var out []certstore.Tag
	for _, t := range in {
		var v string
		if t.Value != nil {
			v = *t.Value
		}
		out = append(out, certstore.Tag{Key: t.Key, Value: v})
	}
	return out
}

func (h *handler) now() time.Time {
	if h.cfg.Now != nil {
		return h.cfg.Now()
	}
	return time.Now()
}

func (h *handler) importCertificate(ctx context.Context, body []byte) (any, error) {
	var in struct {
		CertificateArn   string
		Certificate      []byte
		PrivateKey       []byte
		CertificateChain []byte
		Tags             []tag
	}
	if err := awsjson.Decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Certificate) == 0 || len(in.PrivateKey) == 0 {
		return nil, validation("Certificate and PrivateKey are required")
	}
	c, err := h.cfg.Certificates.Import(ctx, certstore.ImportInput{
		ARN: in.CertificateArn, Certificate: in.Certificate, PrivateKey: in.PrivateKey, Chain: in.CertificateChain, Tags: storeTags(in.Tags),
	})
	if err != nil {
		return nil, err
	}
	return map[string]string{"CertificateArn": c.ARN}, nil
}

type arnInput struct {
	CertificateArn string
}

func (h *handler) arn(body []byte) (string, error) {
	var in arnInput
	if err := awsjson.Decode(body, &in); err != nil {
		return "", err
	}
	return checkARN(in.CertificateArn)
}

func checkARN(arn string) (string, error) {
	if arn == "" {
		return "", validation("1 validation error detected: Value null at 'certificateArn' failed to satisfy constraint: Member must not be null")
	}
	if !strings.HasPrefix(arn, certstore.ARNPrefix) {
		return "", &awsjson.Error{Status: http.StatusBadRequest, Code: certstore.CodeInvalidArn, Message: fmt.Sprintf("String '%s' is not a valid ARN", arn)}
	}
	return arn, nil
}

// epoch is a timestamp as the JSON protocol sends it: seconds since the
// epoch.
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(time.Time(t).UnixMilli())/1000, 'f', -1, 64), nil
}

// optionalEpoch is an epoch left out when zero.
func optionalEpoch(t time.Time) *epoch {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}

type resourceRecord struct {
	Name  string
	Type  string
	Value string
}

type domainValidation struct {
	DomainName       string
	ValidationDomain string
	ValidationStatus string
	ValidationMethod string
	ResourceRecord   *resourceRecord `json:",omitempty"`
	ValidationEmails []string        `json:",omitempty"`
}

type keyUsage struct {
	Name string
}

type extendedKeyUsage struct {
	Name string
	OID  string `json:",omitempty"`
}

type certificateOptions struct {
	CertificateTransparencyLoggingPreference string
	Export                                   string
}

type renewalSummary struct {
	RenewalStatus           string
	DomainValidationOptions []domainValidation
	UpdatedAt               epoch
}

type certificateDetail struct {
	CertificateArn          string
	DomainName              string
	SubjectAlternativeNames []string
	DomainValidationOptions []domainValidation `json:",omitempty"`
	Serial                  string
	Subject                 string
	Issuer                  string
	CreatedAt               *epoch `json:",omitempty"`
	IssuedAt                *epoch `json:",omitempty"`
	ImportedAt              *epoch `json:",omitempty"`
	NotBefore               epoch
	NotAfter                epoch
	Status                  string
	KeyAlgorithm            string
	SignatureAlgorithm      string
	InUseBy                 []string
	Type                    string
	RenewalEligibility      string
	RenewalSummary          *renewalSummary `json:",omitempty"`
	KeyUsages               []keyUsage
	ExtendedKeyUsages       []extendedKeyUsage
	Options                 certificateOptions
}

func validations(c certstore.Certificate) []domainValidation {
	var out []domainValidation
	for _, dv := range c.DomainValidations {
		v := domainValidation{DomainName: dv.DomainName, ValidationDomain: dv.ValidationDomain, ValidationStatus: "SUCCESS",
			ValidationMethod: dv.ValidationMethod, ValidationEmails: dv.ValidationEmails}
		if dv.RecordName != "" {
			v.ResourceRecord = &resourceRecord{Name: dv.RecordName, Type: "CNAME", Value: dv.RecordValue}
		}
		out = append(out, v)
	}
	return out
}

// renewalEligibility is ELIGIBLE for the certificates kelb renews: those
// it issued, in use or not.
func renewalEligibility(c certstore.Certificate) string {
	if c.Kind() == certstore.TypeAmazonIssued {
		return "ELIGIBLE"
	}
	return "INELIGIBLE"
}

func exportOption(c certstore.Certificate) string {
	if c.Export == "" {
		return "DISABLED"
	}
	return c.Export
}

func detail(c certstore.Certificate, users []string, now time.Time) certificateDetail {
	d := certificateDetail{
		CertificateArn: c.ARN, DomainName: c.DomainName, SubjectAlternativeNames: c.SubjectAlternativeNames,
		DomainValidationOptions: validations(c),
		Serial:                  c.Serial, Subject: c.Subject, Issuer: c.Issuer,
		CreatedAt: optionalEpoch(c.CreatedAt), NotBefore: epoch(c.NotBefore), NotAfter: epoch(c.NotAfter),
		Status: c.Status(now), KeyAlgorithm: c.KeyAlgorithm, SignatureAlgorithm: c.SignatureAlgorithm,
		InUseBy: users, Type: c.Kind(), RenewalEligibility: renewalEligibility(c),
		KeyUsages: []keyUsage{}, ExtendedKeyUsages: []extendedKeyUsage{},
		Options: certificateOptions{CertificateTransparencyLoggingPreference: "ENABLED", Export: exportOption(c)},
	}
	if c.Kind() == certstore.TypeImported {
		d.ImportedAt = optionalEpoch(c.ImportedAt)
	} else {
		d.IssuedAt = optionalEpoch(c.IssuedAt)
	}
	if c.RenewalStatus != "" {
		d.RenewalSummary = &renewalSummary{RenewalStatus: c.RenewalStatus, DomainValidationOptions: d.DomainValidationOptions, UpdatedAt: epoch(c.RenewedAt)}
	}
	for _, u := range c.KeyUsages {
		d.KeyUsages = append(d.KeyUsages, keyUsage{Name: u})
	}
	for _, u := range c.ExtendedKeyUsages {
		d.ExtendedKeyUsages = append(d.ExtendedKeyUsages, extendedKeyUsage{Name: u, OID: certstore.ExtendedKeyUsageOID(u)})
	}
	if d.InUseBy == nil {
		d.InUseBy = []string{}
	}
	return d
}

func (h *handler) describeCertificate(ctx context.Context, body []byte) (any, error) {
	arn, err := h.arn(body)
	if err != nil {
		return nil, err
	}
	c, err := h.cfg.Certificates.Get(ctx, arn)
	if err != nil {
		return nil, err
	}
	users, err := h.cfg.Certificates.InUseBy(ctx, arn)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Certificate": detail(c, users, h.now())}, nil
}

// filters is ListCertificates' Includes.
type filters struct {
	ExtendedKeyUsage []string `json:"extendedKeyUsage"`
	KeyUsage         []string `json:"keyUsage"`
	KeyTypes         []string `json:"keyTypes"`
	ExportOption     string   `json:"exportOption"`
	ManagedBy        string   `json:"managedBy"`
}

// defaultKeyTypes is what ListCertificates lists without Includes.keyTypes,
// as ACM.
var defaultKeyTypes = []string{"RSA_1024", "RSA_2048"}

// included reports whether c passes f: its key type is one of f's (ACM's
// default RSA_1024 and RSA_2048 when none is given), and it has one of
// the key usages and one of the extended key usages f names, when f names
// any.
func (f filters) included(c certstore.Certificate) bool {
	keyTypes := f.KeyTypes
	if len(keyTypes) == 0 {
		keyTypes = defaultKeyTypes
	}
	anyOf := func(want, have []string) bool {
		return len(want) == 0 || slices.ContainsFunc(want, func(w string) bool { return slices.Contains(have, w) })
	}
	return slices.Contains(keyTypes, c.KeyAlgorithm) && anyOf(f.KeyUsage, c.KeyUsages) && anyOf(f.ExtendedKeyUsage, c.ExtendedKeyUsages) &&
		(f.ExportOption == "" || f.ExportOption == exportOption(c)) && f.ManagedBy == ""
}

type summary struct {
	CertificateArn                       string
	DomainName                           string
	SubjectAlternativeNameSummaries      []string
	HasAdditionalSubjectAlternativeNames bool
	Status                               string
	Type                                 string
	KeyAlgorithm                         string
	KeyUsages                            []string
	ExtendedKeyUsages                    []string
	ExportOption                         string
	Exported                             bool
	InUse                                bool
	RenewalEligibility                   string
	NotBefore                            epoch
	NotAfter                             epoch
	CreatedAt                            *epoch `json:",omitempty"`
	IssuedAt                             *epoch `json:",omitempty"`
	ImportedAt                           *epoch `json:",omitempty"`
}

// maxSummaryNames is how many alternative names a summary lists, as ACM.
const maxSummaryNames = 100

func (h *handler) listCertificates(ctx context.Context, body []byte) (any, error) {
	var in struct {
		CertificateStatuses []string
		Includes            filters
		MaxItems            *int
		NextToken           string
		SortBy              string
		SortOrder           string
	}
	if err := awsjson.Decode(body, &in); err != nil {
		return nil, err
	}
	if in.MaxItems != nil && (*in.MaxItems < 1 || *in.MaxItems > 1000) {
		return nil, validation("1 validation error detected: Value '%d' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000", *in.MaxItems)
	}
	if in.SortBy != "" && in.SortBy != "CREATED_AT" {
		return nil, validation("1 validation error detected: Value '%s' at 'sortBy' failed to satisfy constraint: Member must satisfy enum value set: [CREATED_AT]", in.SortBy)
	}
	if in.SortOrder != "" && in.SortOrder != "ASCENDING" && in.SortOrder != "DESCENDING" {
		return nil, validation("1 validation error detected: Value '%s' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: [ASCENDING, DESCENDING]", in.SortOrder)
	}
	all, err := h.cfg.Certificates.List(ctx)
	if err != nil {
		return nil, err
	}
	// The list is in one total order (ARN, or CreatedAt then ARN with
	// SortBy), and NextToken is the position of the last one returned.
	position := func(c certstore.Certificate) string { return c.ARN }
	if in.SortBy != "" {
		position = func(c certstore.Certificate) string { return fmt.Sprintf("%020d/%s", c.CreatedAt.UnixNano(), c.ARN) }
	}
	slices.SortStableFunc(all, func(a, b certstore.Certificate) int { return strings.Compare(position(a), position(b)) })
	after := func(c certstore.Certificate) bool { return position(c) > in.NextToken }
	if in.SortOrder == "DESCENDING" {
		slices.Reverse(all)
		after = func(c certstore.Certificate) bool { return position(c) < in.NextToken }
	}
	now := h.now()
	list := []summary{}
	var last string
	out := map[string]any{}
	for _, c := range all {
		st := c.Status(now)
		if len(in.CertificateStatuses) > 0 && !slices.Contains(in.CertificateStatuses, st) || !in.Includes.included(c) {
			continue
		}
		if in.NextToken != "" && !after(c) {
			continue
		}
		if in.MaxItems != nil && len(list) == *in.MaxItems {
			out["NextToken"] = last
			break
		}
		last = position(c)
		users, err := h.cfg.Certificates.InUseBy(ctx, c.ARN)
		if err != nil {
			return nil, err
		}
		s := summary{CertificateArn: c.ARN, DomainName: c.DomainName, SubjectAlternativeNameSummaries: c.SubjectAlternativeNames,
			Status: st, Type: c.Kind(), KeyAlgorithm: c.KeyAlgorithm, KeyUsages: c.KeyUsages, ExtendedKeyUsages: c.ExtendedKeyUsages,
			ExportOption: exportOption(c), Exported: c.Exported, InUse: len(users) > 0, RenewalEligibility: renewalEligibility(c),
			NotBefore: epoch(c.NotBefore), NotAfter: epoch(c.NotAfter), CreatedAt: optionalEpoch(c.CreatedAt)}
		if len(s.SubjectAlternativeNameSummaries) > maxSummaryNames {
			s.SubjectAlternativeNameSummaries, s.HasAdditionalSubjectAlternativeNames = s.SubjectAlternativeNameSummaries[:maxSummaryNames], true
		}
		if c.Kind() == certstore.TypeImported {
			s.ImportedAt = optionalEpoch(c.ImportedAt)
		} else {
			s.IssuedAt = optionalEpoch(c.IssuedAt)
		}
		list = append(list, s)
	}
	out["CertificateSummaryList"] = list
	return out, nil
}

func (h *handler) getCertificate(ctx context.Context, body []byte) (any, error) {
	arn, err := h.arn(body)
	if err != nil {
		return nil, err
	}
	c, err := h.cfg.Certificates.Get(ctx, arn)
	if err != nil {
		return nil, err
	}
	out := map[string]string{"Certificate": c.CertificatePEM}
	if c.ChainPEM != "" {
		out["CertificateChain"] = c.ChainPEM
	}
	return out, nil
}

func (h *handler) deleteCertificate(ctx context.Context, body []byte) (any, error) {
	arn, err := h.arn(body)
	if err != nil {
		return nil, err
	}
	return nil, h.cfg.Certificates.Delete(ctx, arn)
}

package acmapi

import (
	"context"

	"github.com/kelb-io/kelb/internal/awsjson"
	"github.com/kelb-io/kelb/internal/certstore"
)

func (h *handler) requestCertificate(ctx context.Context, body []byte) (any, error) {
	var in struct {
		DomainName              string
		SubjectAlternativeNames []string
		ValidationMethod        string
		IdempotencyToken        string
		KeyAlgorithm            string
		DomainValidationOptions []struct {
			DomainName       string
			ValidationDomain string
		}
		Options *struct {
			CertificateTransparencyLoggingPreference string
			Export                                   string
		}
		CertificateAuthorityArn string
		ManagedBy               string
		Tags                    []tag
	}
	if err := awsjson.Decode(body, &in); err != nil {
		return nil, err
	}
	if in.CertificateAuthorityArn != "" {
		// A private CA (AWS Private CA) is another service; kelb issues
		// every requested certificate from its own authority.
		return nil, validation("CertificateAuthorityArn %s: kelb has no private certificate authorities; leave it out to have kelb's certificate authority issue the certificate", in.CertificateAuthorityArn)
	}
	if in.ManagedBy != "" {
		return nil, validation("1 validation error detected: Value '%s' at 'managedBy' failed to satisfy constraint: kelb has no service that manages certificates", in.ManagedBy)
	}
	req := certstore.RequestInput{
		DomainName: in.DomainName, SubjectAlternativeNames: in.SubjectAlternativeNames, ValidationMethod: in.ValidationMethod,
		IdempotencyToken: in.IdempotencyToken, KeyAlgorithm: in.KeyAlgorithm, Tags: storeTags(in.Tags),
	}
	for _, o := range in.DomainValidationOptions {
		if req.ValidationDomains == nil {
			req.ValidationDomains = map[string]string{}
		}
		req.ValidationDomains[o.DomainName] = o.ValidationDomain
	}
	if in.Options != nil {
		req.Export = in.Options.Export
	}
	c, err := h.cfg.Certificates.Request(ctx, req)
	if err != nil {
		return nil, err
	}
	return map[string]string{"CertificateArn": c.ARN}, nil
}

func (h *handler) renewCertificate(ctx context.Context, body []byte) (any, error) {
	arn, err := h.arn(body)
	if err != nil {
		return nil, err
	}
	_, err = h.cfg.Certificates.Renew(ctx, arn)
	return nil, err
}

func (h *handler) exportCertificate(ctx context.Context, body []byte) (any, error) {
	var in struct {
		CertificateArn string
		Passphrase     []byte
	}
	if err := awsjson.Decode(body, &in); err != nil {
		return nil, err
	}
	if _, err := checkARN(in.CertificateArn); err != nil {
		return nil, err
	}
	out, err := h.cfg.Certificates.Export(ctx, in.CertificateArn, in.Passphrase)
	if err != nil {
		return nil, err
	}
	return map[string]string{"Certificate": out.CertificatePEM, "CertificateChain": out.ChainPEM, "PrivateKey": out.PrivateKeyPEM}, nil
}

type tagsInput struct {
	CertificateArn string
	Tags           []tag
}

func (h *handler) tags(body []byte) (tagsInput, error) {
	var in tagsInput
	if err := awsjson.Decode(body, &in); err != nil {
		return in, err
	}
	if _, err := checkARN(in.CertificateArn); err != nil {
		return in, err
	}
	if len(in.Tags) == 0 {
		return in, validation("1 validation error detected: Value '[]' at 'tags' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	return in, nil
}

func (h *handler) addTags(ctx context.Context, body []byte) (any, error) {
	in, err := h.tags(body)
	if err != nil {
		return nil, err
	}
	return nil, h.cfg.Certificates.AddTags(ctx, in.CertificateArn, storeTags(in.Tags))
}

func (h *handler) removeTags(ctx context.Context, body []byte) (any, error) {
	in, err := h.tags(body)
	if err != nil {
		return nil, err
	}
	given := make([]bool, len(in.Tags))
	for i, t := range in.Tags {
		given[i] = t.Value != nil
	}
	return nil, h.cfg.Certificates.RemoveTags(ctx, in.CertificateArn, storeTags(in.Tags), given)
}

func (h *handler) listTags(ctx context.Context, body []byte) (any, error) {
	arn, err := h.arn(body)
	if err != nil {
		return nil, err
	}
	tags, err := h.cfg.Certificates.Tags(ctx, arn)
	if err != nil {
		return nil, err
	}
	out := []tag{}
	for _, t := range tags {
		tg := tag{Key: t.Key}
		if t.Value != "" {
			tg.Value = &t.Value
		}
		out = append(out, tg)
	}
	return map[string]any{"Tags": out}, nil
}

package elbapi

import (
	"context"
	"strconv"

	"github.com/kelb-io/kelb/internal/elb"
)

// ListenerCertificateOps returns the listener certificate operations of
// svc (AddListenerCertificates, RemoveListenerCertificates,
// DescribeListenerCertificates), to merge into HandlerConfig.Ops.
func ListenerCertificateOps(svc *elb.Service) map[string]OpFunc {
	o := &ops{svc: svc}
	return map[string]OpFunc{
		"AddListenerCertificates":      o.addListenerCertificates,
		"RemoveListenerCertificates":   o.removeListenerCertificates,
		"DescribeListenerCertificates": o.describeListenerCertificates,
	}
}

type listenerCertificatesResult struct {
	Certificates List[xCertificate]
	NextMarker   string `xml:",omitempty"`
}

func encodeCertificates(certs []elb.Certificate) List[xCertificate] {
	out := List[xCertificate]{}
	for _, c := range certs {
		isDefault := c.IsDefault
		out = append(out, xCertificate{CertificateArn: c.ARN, IsDefault: &isDefault})
	}
	return out
}

func (o *ops) addListenerCertificates(ctx context.Context, p Params) (any, error) {
	var d decoder
	certs := decodeCertificates(&d, p)
	if d.err != nil {
		return nil, d.err
	}
	added, err := o.svc.AddListenerCertificates(ctx, p.String("ListenerArn"), certs)
	if err != nil {
		return nil, err
	}
	return listenerCertificatesResult{Certificates: encodeCertificates(added)}, nil
}

func (o *ops) removeListenerCertificates(ctx context.Context, p Params) (any, error) {
	var d decoder
	certs := decodeCertificates(&d, p)
	if d.err != nil {
		return nil, d.err
	}
	return nil, o.svc.RemoveListenerCertificates(ctx, p.String("ListenerArn"), certs)
}

func (o *ops) describeListenerCertificates(ctx context.Context, p Params) (any, error) {
	certs, err := o.svc.DescribeListenerCertificates(ctx, p.String("ListenerArn"))
	if err != nil {
		return nil, err
	}
	// The default certificate is listed twice, once as the default: the
	// marker tells the two apart.
	page, next, err := Paginate(certs, p, func(c elb.Certificate) string { return strconv.FormatBool(c.IsDefault) + " " + c.ARN })
	if err != nil {
		return nil, err
	}
	return listenerCertificatesResult{Certificates: encodeCertificates(page), NextMarker: next}, nil
}

package elbapi

import (
	"context"

	"github.com/kelb-io/kelb/internal/elb"
)

type xListener struct {
	ListenerArn     string
	LoadBalancerArn string
	Port            int32
	Protocol        string
	Certificates    []xCertificate `xml:"Certificates>member"`
	SslPolicy       string         `xml:",omitempty"`
	DefaultActions  List[xAction]
	AlpnPolicy      []string `xml:"AlpnPolicy>member"`
	// MutualAuthentication is described for HTTPS listeners only, mode
	// off when they have none, as ELBv2 describes them.
	MutualAuthentication *xMutualAuthentication `xml:",omitempty"`
}

type xMutualAuthentication struct {
	Mode                          string
	TrustStoreArn                 string `xml:",omitempty"`
	IgnoreClientCertificateExpiry *bool  `xml:",omitempty"`
	TrustStoreAssociationStatus   string `xml:",omitempty"`
	AdvertiseTrustStoreCaNames    string `xml:",omitempty"`
}

func encodeMutualAuthentication(l elb.Listener) *xMutualAuthentication {
	if l.Protocol != "HTTPS" {
		return nil
	}
	m := l.MutualAuthentication
	if m == nil {
		return &xMutualAuthentication{Mode: elb.MutualAuthOff}
	}
	x := &xMutualAuthentication{Mode: m.Mode}
	if m.Mode == elb.MutualAuthVerify {
		ignore := m.IgnoreClientCertificateExpiry
		x.TrustStoreArn, x.IgnoreClientCertificateExpiry = m.TrustStoreARN, &ignore
		x.TrustStoreAssociationStatus, x.AdvertiseTrustStoreCaNames = "active", m.AdvertiseTrustStoreCaNames
	}
	return x
}

func decodeMutualAuthentication(d *decoder, p Params) *elb.MutualAuthenticationInput {
	m, ok := p.Struct("MutualAuthentication")
	if !ok {
		return nil
	}
	return &elb.MutualAuthenticationInput{
		Mode:                          m.String("Mode"),
		TrustStoreARN:                 m.String("TrustStoreArn"),
		IgnoreClientCertificateExpiry: d.boolPtr(m, "IgnoreClientCertificateExpiry"),
		AdvertiseTrustStoreCaNames:    m.String("AdvertiseTrustStoreCaNames"),
	}
}

type xCertificate struct {
	CertificateArn string
	IsDefault      *bool `xml:",omitempty"`
}

type listenersResult struct {
	Listeners  List[xListener]
	NextMarker string `xml:",omitempty"`
}

func encodeListener(l elb.Listener) xListener {
	x := xListener{
		ListenerArn:          l.ARN,
		LoadBalancerArn:      l.LoadBalancerARN,
		Port:                 l.Port,
		Protocol:             l.Protocol,
		SslPolicy:            l.SslPolicy,
		DefaultActions:       encodeActions(l.DefaultActions),
		AlpnPolicy:           l.AlpnPolicy,
		MutualAuthentication: encodeMutualAuthentication(l),
	}
	for _, c := range l.Certificates {
		if c.IsDefault {
			// DescribeListeners lists the default certificate only, without
			// IsDefault, as ELBv2 does.
			x.Certificates = append(x.Certificates, xCertificate{CertificateArn: c.ARN})
		}
	}
	return x
}

func decodeCertificates(d *decoder, p Params) []elb.Certificate {
	var out []elb.Certificate
	for _, m := range p.StructList("Certificates") {
		out = append(out, elb.Certificate{ARN: m.String("CertificateArn"), IsDefault: d.bool(m, "IsDefault")})
	}
	return out
}

func (o *ops) createListener(ctx context.Context, p Params) (any, error) {
	var d decoder
	in := elb.CreateListenerInput{
		LoadBalancerARN:      p.String("LoadBalancerArn"),
		Protocol:             p.String("Protocol"),
		Port:                 d.int32(p, "Port"),
		SslPolicy:            p.String("SslPolicy"),
		Certificates:         decodeCertificates(&d, p),
		DefaultActions:       decodeActions(&d, p, "DefaultActions"),
		AlpnPolicy:           p.StringList("AlpnPolicy"),
		Tags:                 decodeTags(p, "Tags"),
		MutualAuthentication: decodeMutualAuthentication(&d, p),
	}
	if d.err != nil {
		return nil, d.err
	}
	l, err := o.svc.CreateListener(ctx, in)
	if err != nil {
		return nil, err
	}
	return listenersResult{Listeners: List[xListener]{encodeListener(l)}}, nil
}

func (o *ops) describeListeners(ctx context.Context, p Params) (any, error) {
	ls, err := o.svc.DescribeListeners(ctx, elb.DescribeListenersInput{
		LoadBalancerARN: p.String("LoadBalancerArn"),
		ListenerARNs:    p.StringList("ListenerArns"),
	})
	if err != nil {
		return nil, err
	}
	page, next, err := Paginate(ls, p, func(l elb.Listener) string { return l.ARN })
	if err != nil {
		return nil, err
	}
	out := listenersResult{Listeners: List[xListener]{}, NextMarker: next}
	for _, l := range page {
		out.Listeners = append(out.Listeners, encodeListener(l))
	}
	return out, nil
}

func (o *ops) modifyListener(ctx context.Context, p Params) (any, error) {
	var d decoder
	in := elb.ModifyListenerInput{
		ListenerARN:          p.String("ListenerArn"),
		Protocol:             p.String("Protocol"),
		Port:                 d.int32(p, "Port"),
		SslPolicy:            p.String("SslPolicy"),
		Certificates:         decodeCertificates(&d, p),
		DefaultActions:       decodeActions(&d, p, "DefaultActions"),
		AlpnPolicy:           p.StringList("AlpnPolicy"),
		MutualAuthentication: decodeMutualAuthentication(&d, p),
	}
	if d.err != nil {
		return nil, d.err
	}
	l, err := o.svc.ModifyListener(ctx, in)
	if err != nil {
		return nil, err
	}
	return listenersResult{Listeners: List[xListener]{encodeListener(l)}}, nil
}

func (o *ops) deleteListener(ctx context.Context, p Params) (any, error) {
	return nil, o.svc.DeleteListener(ctx, p.String("ListenerArn"))
}

func (o *ops) describeListenerAttributes(ctx context.Context, p Params) (any, error) {
	attrs, err := o.svc.DescribeListenerAttributes(ctx, p.String("ListenerArn"))
	if err != nil {
		return nil, err
	}
	return encodeAttributes(attrs), nil
}

func (o *ops) modifyListenerAttributes(ctx context.Context, p Params) (any, error) {
	return attributeOp("ListenerArn", o.svc.ModifyListenerAttributes)(ctx, p)
}

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
}

type xCertificate struct {
	CertificateArn string
	IsDefault      *bool `xml:",omitempty"`
}

type xAction struct {
	Type                string
	TargetGroupArn      string                `xml:",omitempty"`
	Order               int32                 `xml:",omitempty"`
	RedirectConfig      *xRedirectConfig      `xml:",omitempty"`
	FixedResponseConfig *xFixedResponseConfig `xml:",omitempty"`
	ForwardConfig       *xForwardConfig       `xml:",omitempty"`
}

type xRedirectConfig struct {
	Protocol   string `xml:",omitempty"`
	Port       string `xml:",omitempty"`
	Host       string `xml:",omitempty"`
	Path       string `xml:",omitempty"`
	Query      string `xml:",omitempty"`
	StatusCode string
}

type xFixedResponseConfig struct {
	MessageBody string `xml:",omitempty"`
	StatusCode  string
	ContentType string `xml:",omitempty"`
}

type xForwardConfig struct {
	TargetGroups                List[xTargetGroupTuple]
	TargetGroupStickinessConfig xStickinessConfig
}

type xTargetGroupTuple struct {
	TargetGroupArn string
	Weight         int32
}

type xStickinessConfig struct {
	Enabled         bool
	DurationSeconds *int32 `xml:",omitempty"`
}

type listenersResult struct {
	Listeners  List[xListener]
	NextMarker string `xml:",omitempty"`
}

func encodeActions(actions []elb.Action) List[xAction] {
	out := List[xAction]{}
	for _, a := range actions {
		x := xAction{Type: a.Type, TargetGroupArn: a.TargetGroupARN, Order: a.Order}
		if r := a.Redirect; r != nil {
			x.RedirectConfig = &xRedirectConfig{Protocol: r.Protocol, Port: r.Port, Host: r.Host, Path: r.Path, Query: r.Query, StatusCode: r.StatusCode}
		}
		if f := a.FixedResponse; f != nil {
			x.FixedResponseConfig = &xFixedResponseConfig{MessageBody: f.MessageBody, StatusCode: f.StatusCode, ContentType: f.ContentType}
		}
		if f := a.Forward; f != nil {
			fc := &xForwardConfig{TargetGroups: List[xTargetGroupTuple]{}, TargetGroupStickinessConfig: xStickinessConfig{Enabled: f.StickinessEnabled}}
			if f.StickinessDurationExplicit || f.StickinessEnabled {
				d := f.StickinessDurationSeconds
				fc.TargetGroupStickinessConfig.DurationSeconds = &d
			}
			for _, t := range f.TargetGroups {
				fc.TargetGroups = append(fc.TargetGroups, xTargetGroupTuple{TargetGroupArn: t.TargetGroupARN, Weight: t.Weight})
			}
			x.ForwardConfig = fc
		}
		out = append(out, x)
	}
	return out
}

func encodeListener(l elb.Listener) xListener {
	x := xListener{
		ListenerArn:     l.ARN,
		LoadBalancerArn: l.LoadBalancerARN,
		Port:            l.Port,
		Protocol:        l.Protocol,
		SslPolicy:       l.SslPolicy,
		DefaultActions:  encodeActions(l.DefaultActions),
		AlpnPolicy:      l.AlpnPolicy,
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

func decodeActions(d *decoder, p Params, key string) []elb.Action {
	var out []elb.Action
	for _, m := range p.StructList(key) {
		a := elb.Action{
			Type:           m.String("Type"),
			TargetGroupARN: m.String("TargetGroupArn"),
			Order:          d.int32(m, "Order"),
		}
		if r, ok := m.Struct("RedirectConfig"); ok {
			a.Redirect = &elb.RedirectConfig{
				Protocol: r.String("Protocol"), Port: r.String("Port"), Host: r.String("Host"),
				Path: r.String("Path"), Query: r.String("Query"), StatusCode: r.String("StatusCode"),
			}
		}
		if f, ok := m.Struct("FixedResponseConfig"); ok {
			a.FixedResponse = &elb.FixedResponseConfig{
				MessageBody: f.String("MessageBody"), StatusCode: f.String("StatusCode"), ContentType: f.String("ContentType"),
			}
		}
		if f, ok := m.Struct("ForwardConfig"); ok {
			fc := &elb.ForwardConfig{}
			for _, t := range f.StructList("TargetGroups") {
				fc.TargetGroups = append(fc.TargetGroups, elb.WeightedTargetGroup{
					TargetGroupARN: t.String("TargetGroupArn"),
					Weight:         d.int32(t, "Weight"),
				})
			}
			if s, ok := f.Struct("TargetGroupStickinessConfig"); ok {
				fc.StickinessEnabled = d.bool(s, "Enabled")
				if v := d.int32Ptr(s, "DurationSeconds"); v != nil {
					fc.StickinessDurationSeconds, fc.StickinessDurationExplicit = *v, true
				}
			}
			a.Forward = fc
		}
		out = append(out, a)
	}
	return out
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
		LoadBalancerARN: p.String("LoadBalancerArn"),
		Protocol:        p.String("Protocol"),
		Port:            d.int32(p, "Port"),
		SslPolicy:       p.String("SslPolicy"),
		Certificates:    decodeCertificates(&d, p),
		DefaultActions:  decodeActions(&d, p, "DefaultActions"),
		AlpnPolicy:      p.StringList("AlpnPolicy"),
		Tags:            decodeTags(p, "Tags"),
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
		ListenerARN:    p.String("ListenerArn"),
		Protocol:       p.String("Protocol"),
		Port:           d.int32(p, "Port"),
		SslPolicy:      p.String("SslPolicy"),
		Certificates:   decodeCertificates(&d, p),
		DefaultActions: decodeActions(&d, p, "DefaultActions"),
		AlpnPolicy:     p.StringList("AlpnPolicy"),
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

package gateway

import (
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Ref is one end of a reference across namespaces: a group ("" for the
// core group), a kind, a namespace and a name.
type Ref struct {
	Group, Kind, Namespace, Name string
}

// Permitted reports whether an object (from) may refer to another (to):
// always within one namespace, and across namespaces only when a
// ReferenceGrant in to's namespace lets from's group, kind and namespace
// refer to to's group and kind, naming to or every object of that kind.
func Permitted(grants []gatewayv1.ReferenceGrant, from, to Ref) bool {
	if from.Namespace == to.Namespace {
		return true
	}
	for _, g := range grants {
		if g.Namespace != to.Namespace {
			continue
		}
		fromOK := false
		for _, f := range g.Spec.From {
			if string(f.Group) == from.Group && string(f.Kind) == from.Kind && string(f.Namespace) == from.Namespace {
				fromOK = true
				break
			}
		}
		if !fromOK {
			continue
		}
		for _, t := range g.Spec.To {
			if string(t.Group) == to.Group && string(t.Kind) == to.Kind && (t.Name == nil || string(*t.Name) == to.Name) {
				return true
			}
		}
	}
	return false
}

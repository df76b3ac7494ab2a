package ingress

import (
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Grouping is the Ingresses that are ours, sorted into their groups.
type Grouping struct {
	// Groups holds the members of every group, Ingresses being deleted
	// included.
	Groups map[GroupID][]Member
	// Errors are Ingresses that are ours but whose group cannot be told
	// (a malformed group.name or group.order).
	Errors map[types.NamespacedName]error
}

// GroupIngresses sorts the Ingresses that are ours into their groups.
func GroupIngresses(ings []networkingv1.Ingress, classes Classes) Grouping {
	g := Grouping{Groups: map[GroupID][]Member{}, Errors: map[types.NamespacedName]error{}}
	for i := range ings {
		ing := &ings[i]
		class, ours := classes.Of(ing)
		if !ours {
			continue
		}
		id, order, err := memberOf(ing, class)
		if err != nil {
			g.Errors[types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}] = memberError(ing, err)
			continue
		}
		g.Groups[id] = append(g.Groups[id], Member{Ingress: ing, Class: class, Order: order})
	}
	return g
}

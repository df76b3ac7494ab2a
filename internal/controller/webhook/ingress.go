package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	"github.com/kelb-io/kelb/internal/controller/ingress"
)

// Ingress and IngressClassParams validating webhooks: paths and names, as
// the AWS Load Balancer Controller's.
const (
	PathValidateIngress                   = "/validate-networking-v1-ingress"
	PathValidateIngressClassParams        = "/validate-elbv2-k8s-aws-v1beta1-ingressclassparams"
	ValidateIngressWebhookName            = "vingress.elbv2.k8s.aws"
	ValidateIngressClassParamsWebhookName = "vingressclassparams.elbv2.k8s.aws"
)

// errInvalidIngressClass prefixes the class errors, as the AWS Load
// Balancer Controller's.
var errInvalidIngressClass = errors.New("invalid ingress class")

// IngressValidator checks Ingresses as the AWS Load Balancer Controller's
// validator does: only those of the controller's class (by the legacy
// annotation, spec.ingressClassName or the default IngressClass), refusing
// an Ingress whose class or IngressClassParams is missing or does not
// select its namespace, a new use of an annotation the flags disable, and
// group and conditions annotations the build would refuse.
type IngressValidator struct {
	// Client reads IngressClasses, IngressClassParams and Namespaces.
	Client client.Reader
	// IngressClass is the legacy kubernetes.io/ingress.class value that is
	// ours.
	IngressClass string
	// DisableIngressClassAnnotation refuses new uses of
	// kubernetes.io/ingress.class naming our class.
	DisableIngressClassAnnotation bool
	// DisableIngressGroupNameAnnotation refuses new uses of group.name.
	DisableIngressGroupNameAnnotation bool
}

// Validate checks ing (old is nil on create); namespace is the request's.
func (v *IngressValidator) Validate(ctx context.Context, namespace string, ing, old *networkingv1.Ingress) error {
	class, ours, err := v.load(ctx, namespace, ing)
	if err != nil || !ours {
		return err
	}
	if v.DisableIngressClassAnnotation && v.usesClassAnnotation(ing) && (old == nil || !v.usesClassAnnotation(old)) {
		return fmt.Errorf("new usage of `%s` annotation is forbidden", ingress.AnnotationIngressClass)
	}
	if v.DisableIngressGroupNameAnnotation {
		name, used := ing.Annotations[ingress.AnnotationGroupName]
		var oldName string
		oldUsed := false
		if old != nil {
			oldName, oldUsed = old.Annotations[ingress.AnnotationGroupName]
		}
		if used && (!oldUsed || name != oldName) {
			return fmt.Errorf("new usage of `%s` annotation is forbidden", ingress.AnnotationGroupName)
		}
	}
	return ingress.Validate(ing, class)
}

func (v *IngressValidator) usesClassAnnotation(ing *networkingv1.Ingress) bool {
	value, ok := ing.Annotations[ingress.AnnotationIngressClass]
	return ok && value == v.legacyClass()
}

func (v *IngressValidator) legacyClass() string {
	if v.IngressClass == "" {
		return ingress.DefaultIngressClass
	}
	return v.IngressClass
}

// load returns the Ingress's class and whether it is ours; an error when
// its class, or that class's parameters, cannot be used.
func (v *IngressValidator) load(ctx context.Context, namespace string, ing *networkingv1.Ingress) (ingress.ClassResult, bool, error) {
	if value, ok := ing.Annotations[ingress.AnnotationIngressClass]; ok && ing.Spec.IngressClassName == nil {
		return ingress.ClassResult{}, value == v.legacyClass(), nil
	}
	var class networkingv1.IngressClass
	if name := ing.Spec.IngressClassName; name != nil {
		if err := v.Client.Get(ctx, client.ObjectKey{Name: *name}, &class); err != nil {
			if apierrors.IsNotFound(err) {
				return ingress.ClassResult{}, false, fmt.Errorf("%w: %v", errInvalidIngressClass, err)
			}
			return ingress.ClassResult{}, false, err
		}
	} else {
		var list networkingv1.IngressClassList
		if err := v.Client.List(ctx, &list); err != nil {
			return ingress.ClassResult{}, false, fmt.Errorf("%w: fetching ingressClasses: %v", errInvalidIngressClass, err)
		}
		found := 0
		for i := range list.Items {
			if list.Items[i].Annotations[ingress.AnnotationDefaultClass] == "true" {
				class = list.Items[i]
				found++
			}
		}
		if found > 1 {
			return ingress.ClassResult{}, false, errors.New("multiple default IngressClasses found")
		}
		if found == 0 {
			return ingress.ClassResult{}, false, nil
		}
	}
	if class.Spec.Controller != ingress.Controller {
		return ingress.ClassResult{}, false, nil
	}
	res := ingress.ClassResult{Class: class.Name}
	ref := class.Spec.Parameters
	if ref == nil {
		return res, true, nil
	}
	if ref.APIGroup == nil || *ref.APIGroup != elbv2api.GroupVersion.Group || ref.Kind != "IngressClassParams" {
		return res, true, fmt.Errorf("%w: IngressClass %v references unknown parameters", errInvalidIngressClass, class.Name)
	}
	var params elbv2api.IngressClassParams
	if err := v.Client.Get(ctx, client.ObjectKey{Name: ref.Name}, &params); err != nil {
		if apierrors.IsNotFound(err) {
			return res, true, fmt.Errorf("%w: %v", errInvalidIngressClass, err)
		}
		return res, true, err
	}
	if params.Spec.NamespaceSelector != nil {
		var ns corev1.Namespace
		if err := v.Client.Get(ctx, client.ObjectKey{Name: namespace}, &ns); err != nil {
			return res, true, fmt.Errorf("%w: %v", errInvalidIngressClass, err)
		}
		sel, err := metav1.LabelSelectorAsSelector(params.Spec.NamespaceSelector)
		if err != nil {
			return res, true, fmt.Errorf("%w: %v", errInvalidIngressClass, err)
		}
		if !sel.Matches(labels.Set(ns.Labels)) {
			return res, true, fmt.Errorf("%w: namespaceSelector of IngressClassParams %v mismatch", errInvalidIngressClass, params.Name)
		}
	}
	res.Params = &params
	return res, true, nil
}

// NewIngressValidator returns the admission handler of v.
func NewIngressValidator(scheme *runtime.Scheme, v *IngressValidator) admission.Handler {
	return &validating[*networkingv1.Ingress]{
		decoder: admission.NewDecoder(scheme),
		newObj:  func() *networkingv1.Ingress { return &networkingv1.Ingress{} },
		validate: func(ctx context.Context, req admission.Request, ing, old *networkingv1.Ingress) error {
			ns := req.Namespace
			if ns == "" {
				ns = ing.Namespace
			}
			return v.Validate(ctx, ns, ing, old)
		},
	}
}

// ValidateIngressClassParams checks what the AWS Load Balancer
// Controller's validator checks (inboundCIDRs are networks, subnets has
// ids or tags, not both, without duplicates), then what kelb's build reads
// beyond the schema. Every field error is reported.
func ValidateIngressClassParams(p *elbv2api.IngressClassParams) error {
	var errs field.ErrorList
	for i, cidr := range p.Spec.InboundCIDRs {
		errs = append(errs, validateCIDR(cidr, field.NewPath("spec", "inboundCIDRs").Index(i))...)
	}
	if s := p.Spec.Subnets; s != nil {
		path := field.NewPath("spec", "subnets")
		switch {
		case s.IDs == nil && s.Tags == nil:
			errs = append(errs, field.Required(path, "must have either `ids` or `tags`"))
		case s.IDs != nil && s.Tags != nil:
			errs = append(errs, field.Forbidden(path.Child("tags"), "may not have both `ids` and `tags` set"))
		case s.IDs != nil:
			seen := map[elbv2api.SubnetID]bool{}
			for i, id := range s.IDs {
				if seen[id] {
					errs = append(errs, field.Duplicate(path.Child("ids").Index(i), id))
				}
				seen[id] = true
			}
		default:
			if len(s.Tags) == 0 {
				errs = append(errs, field.Required(path.Child("tags"), "must have at least one tag key"))
			}
			for k, values := range s.Tags {
				seen := map[string]bool{}
				for i, value := range values {
					if seen[value] {
						errs = append(errs, field.Duplicate(path.Child("tags").Key(k).Index(i), value))
					}
					seen[value] = true
				}
			}
		}
	}
	if err := errs.ToAggregate(); err != nil {
		return err
	}
	return ingress.ValidateClassParams(p)
}

// validateCIDR is the AWS Load Balancer Controller's check of one network,
// with its hints.
func validateCIDR(cidr string, path *field.Path) field.ErrorList {
	ip, ipNet, err := net.ParseCIDR(cidr)
	if err != nil {
		detail := "Could not be parsed as a CIDR"
		if !strings.Contains(cidr, "/") {
			if addr := net.ParseIP(cidr); addr != nil {
				if addr.To4() != nil && !strings.Contains(cidr, ":") {
					detail += fmt.Sprintf(" (did you mean \"%s/32\")", cidr)
				} else {
					detail += fmt.Sprintf(" (did you mean \"%s/64\")", cidr)
				}
			}
		}
		return field.ErrorList{field.Invalid(path, cidr, detail)}
	}
	if !ip.Equal(ipNet.IP) {
		size, _ := ipNet.Mask.Size()
		return field.ErrorList{field.Invalid(path, cidr, fmt.Sprintf("Network contains bits outside prefix (did you mean \"%s/%d\")", ipNet.IP, size))}
	}
	return nil
}

// NewIngressClassParamsValidator returns the admission handler of
// ValidateIngressClassParams.
func NewIngressClassParamsValidator(scheme *runtime.Scheme) admission.Handler {
	return &validating[*elbv2api.IngressClassParams]{
		decoder: admission.NewDecoder(scheme),
		newObj:  func() *elbv2api.IngressClassParams { return &elbv2api.IngressClassParams{} },
		validate: func(_ context.Context, _ admission.Request, p, _ *elbv2api.IngressClassParams) error {
			return ValidateIngressClassParams(p)
		},
	}
}

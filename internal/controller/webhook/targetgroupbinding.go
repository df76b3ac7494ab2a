package webhook

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
)

// TargetGroupBinding webhooks: paths and names, as the AWS Load Balancer
// Controller's.
const (
	PathMutateTargetGroupBinding          = "/mutate-elbv2-k8s-aws-v1beta1-targetgroupbinding"
	PathValidateTargetGroupBinding        = "/validate-elbv2-k8s-aws-v1beta1-targetgroupbinding"
	MutateTargetGroupBindingWebhookName   = "mtargetgroupbinding.elbv2.k8s.aws"
	ValidateTargetGroupBindingWebhookName = "vtargetgroupbinding.elbv2.k8s.aws"
)

// TargetGroups is the part of the ELBv2 API the TargetGroupBinding webhooks
// call; *elasticloadbalancingv2.Client implements it.
type TargetGroups interface {
	DescribeTargetGroups(context.Context, *elbv2.DescribeTargetGroupsInput, ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupsOutput, error)
}

// describeOne returns the one target group of a DescribeTargetGroups
// query, with the AWS Load Balancer Controller's message when there is
// not exactly one.
func describeOne(ctx context.Context, elb TargetGroups, in *elbv2.DescribeTargetGroupsInput, query string) (*elbv2types.TargetGroup, error) {
	out, err := elb.DescribeTargetGroups(ctx, in)
	if err != nil {
		return nil, err
	}
	if len(out.TargetGroups) != 1 {
		return nil, fmt.Errorf("expecting a single targetGroup with query [%s] but got %v", query, len(out.TargetGroups))
	}
	return &out.TargetGroups[0], nil
}

// targetGroupOf looks the binding's target group up by ARN once per
// admission request.
func targetGroupOf(ctx context.Context, elb TargetGroups, tgb *elbv2api.TargetGroupBinding) func() (*elbv2types.TargetGroup, error) {
	return sync.OnceValues(func() (*elbv2types.TargetGroup, error) {
		arn := tgb.Spec.TargetGroupARN
		return describeOne(ctx, elb, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{arn}}, arn)
	})
}

// ipAddressTypeOf is the binding's ipAddressType for a target group's.
func ipAddressTypeOf(tg *elbv2types.TargetGroup) (elbv2api.TargetGroupIPAddressType, error) {
	switch tg.IpAddressType {
	case elbv2types.TargetGroupIpAddressTypeEnumIpv6:
		return elbv2api.TargetGroupIPAddressTypeIPv6, nil
	case elbv2types.TargetGroupIpAddressTypeEnumIpv4, "":
		return elbv2api.TargetGroupIPAddressTypeIPv4, nil
	}
	return "", fmt.Errorf("unsupported IPAddressType: %v", tg.IpAddressType)
}

// MutateTargetGroupBinding fills in what a new binding leaves unset from
// its target group, as the AWS Load Balancer Controller's mutator does:
// targetGroupARN from targetGroupName, then targetType, ipAddressType,
// vpcID and targetGroupProtocol.
func MutateTargetGroupBinding(ctx context.Context, elb TargetGroups, tgb *elbv2api.TargetGroupBinding) error {
	if tgb.Spec.TargetGroupARN == "" && tgb.Spec.TargetGroupName == "" {
		return errors.New("must provide either TargetGroupARN or TargetGroupName")
	}
	if tgb.Spec.TargetGroupARN == "" {
		name := tgb.Spec.TargetGroupName
		tg, err := describeOne(ctx, elb, &elbv2.DescribeTargetGroupsInput{Names: []string{name}}, name)
		if err != nil {
			return err
		}
		tgb.Spec.TargetGroupARN = aws.ToString(tg.TargetGroupArn)
	}
	tg := targetGroupOf(ctx, elb, tgb)
	if tgb.Spec.TargetType == nil {
		g, err := tg()
		if err != nil {
			return fmt.Errorf("couldn't determine TargetType: %w", err)
		}
		var tt elbv2api.TargetType
		switch g.TargetType {
		case elbv2types.TargetTypeEnumInstance:
			tt = elbv2api.TargetTypeInstance
		case elbv2types.TargetTypeEnumIp:
			tt = elbv2api.TargetTypeIP
		default:
			return fmt.Errorf("couldn't determine TargetType: unsupported TargetType: %v", g.TargetType)
		}
		tgb.Spec.TargetType = &tt
	}
	if tgb.Spec.IPAddressType == nil {
		g, err := tg()
		if err != nil {
			return fmt.Errorf("unable to get target group IP address type: %w", err)
		}
		t, err := ipAddressTypeOf(g)
		if err != nil {
			return fmt.Errorf("unable to get target group IP address type: %w", err)
		}
		tgb.Spec.IPAddressType = &t
	}
	if tgb.Spec.VpcID == "" {
		g, err := tg()
		if err != nil {
			return fmt.Errorf("unable to get target group VpcID: %w", err)
		}
		tgb.Spec.VpcID = aws.ToString(g.VpcId)
	}
	if tgb.Spec.TargetGroupProtocol == nil {
		g, err := tg()
		if err != nil {
			return fmt.Errorf("couldn't determine TargetGroup protocol: %w", err)
		}
		p := string(g.Protocol)
		tgb.Spec.TargetGroupProtocol = &p
	}
	return nil
}

var vpcIDPattern = regexp.MustCompile(`^(?:vpc-[0-9a-f]{8}|vpc-[0-9a-f]{17}|vpc-[0-9a-f]{32})$`)

// TargetGroupBindingValidator checks bindings as the AWS Load Balancer
// Controller's validator does, with its messages.
type TargetGroupBindingValidator struct {
	// Client lists the cluster's bindings.
	Client client.Reader
	// ELB describes target groups.
	ELB TargetGroups
	// VpcID is the cluster's VPC: an update may set an unset vpcID only
	// to it.
	VpcID string
}

// ValidateCreate checks a new binding (after the mutator).
func (v *TargetGroupBindingValidator) ValidateCreate(ctx context.Context, tgb *elbv2api.TargetGroupBinding) error {
	if err := v.checkRequiredFields(ctx, tgb); err != nil {
		return err
	}
	if err := checkNodeSelector(tgb); err != nil {
		return err
	}
	if err := v.checkExistingTargetGroups(ctx, tgb); err != nil {
		return err
	}
	tg := targetGroupOf(ctx, v.ELB, tgb)
	if err := checkIPAddressType(tgb, tg); err != nil {
		return err
	}
	if err := checkVpcID(tgb, tg); err != nil {
		return err
	}
	if err := checkAssumeRole(tgb); err != nil {
		return err
	}
	return checkProtocol(tgb, tg)
}

// ValidateUpdate checks an update: required and immutable fields.
func (v *TargetGroupBindingValidator) ValidateUpdate(ctx context.Context, tgb, old *elbv2api.TargetGroupBinding) error {
	if err := v.checkRequiredFields(ctx, tgb); err != nil {
		return err
	}
	if err := v.checkImmutableFields(tgb, old); err != nil {
		return err
	}
	if err := checkNodeSelector(tgb); err != nil {
		return err
	}
	if err := checkAssumeRole(tgb); err != nil {
		return err
	}
	return v.checkExistingTargetGroups(ctx, tgb)
}

func (v *TargetGroupBindingValidator) checkRequiredFields(ctx context.Context, tgb *elbv2api.TargetGroupBinding) error {
	var absent []string
	if tgb.Spec.TargetGroupARN == "" {
		if tgb.Spec.TargetGroupName == "" {
			absent = append(absent, "either TargetGroupARN or TargetGroupName")
		} else {
			tg, err := describeOne(ctx, v.ELB, &elbv2.DescribeTargetGroupsInput{Names: []string{tgb.Spec.TargetGroupName}}, tgb.Spec.TargetGroupName)
			if err != nil {
				return fmt.Errorf("searching TargetGroup with name %s: %w", tgb.Spec.TargetGroupName, err)
			}
			tgb.Spec.TargetGroupARN = aws.ToString(tg.TargetGroupArn)
		}
	}
	if tgb.Spec.TargetType == nil {
		absent = append(absent, "spec.targetType")
	}
	if len(absent) != 0 {
		return fmt.Errorf("TargetGroupBinding must specify these fields: %s", strings.Join(absent, ","))
	}
	return nil
}

func (v *TargetGroupBindingValidator) checkImmutableFields(tgb, old *elbv2api.TargetGroupBinding) error {
	var changed []string
	if tgb.Spec.TargetGroupARN != old.Spec.TargetGroupARN {
		changed = append(changed, "spec.targetGroupARN")
	}
	if (tgb.Spec.TargetType == nil) != (old.Spec.TargetType == nil) ||
		tgb.Spec.TargetType != nil && old.Spec.TargetType != nil && *tgb.Spec.TargetType != *old.Spec.TargetType {
		changed = append(changed, "spec.targetType")
	}
	newIP, oldIP := tgb.Spec.IPAddressType, old.Spec.IPAddressType
	if oldIP == nil && newIP != nil && *newIP != elbv2api.TargetGroupIPAddressTypeIPv4 ||
		newIP == nil && oldIP != nil ||
		oldIP != nil && newIP != nil && *oldIP != *newIP {
		changed = append(changed, "spec.ipAddressType")
	}
	newVpc, oldVpc := tgb.Spec.VpcID, old.Spec.VpcID
	if newVpc != "" && oldVpc != "" && newVpc != oldVpc ||
		oldVpc != "" && newVpc == "" ||
		oldVpc == "" && newVpc != "" && newVpc != v.VpcID {
		changed = append(changed, "spec.vpcID")
	}
	if len(changed) != 0 {
		return fmt.Errorf("TargetGroupBinding update may not change these immutable fields: %s", strings.Join(changed, ","))
	}
	return nil
}

// checkExistingTargetGroups refuses a second binding of one target group
// unless every binding of it is multiCluster.
func (v *TargetGroupBindingValidator) checkExistingTargetGroups(ctx context.Context, tgb *elbv2api.TargetGroupBinding) error {
	var list elbv2api.TargetGroupBindingList
	if err := v.Client.List(ctx, &list); err != nil {
		return fmt.Errorf("failed to list TargetGroupBindings in the cluster: %w", err)
	}
	multi := tgb.Spec.MultiClusterTargetGroup
	var dups []types.NamespacedName
	for _, other := range list.Items {
		if other.UID == tgb.UID || other.Spec.TargetGroupARN != tgb.Spec.TargetGroupARN {
			continue
		}
		if !other.Spec.MultiClusterTargetGroup {
			multi = false
		}
		dups = append(dups, types.NamespacedName{Namespace: other.Namespace, Name: other.Name})
	}
	if len(dups) != 0 && !multi {
		return fmt.Errorf("TargetGroup %v is already bound to following TargetGroupBindings %v. Please enable MultiCluster mode on all TargetGroupBindings referencing %v or choose a different Target Group ARN.", tgb.Spec.TargetGroupARN, dups, tgb.Spec.TargetGroupARN)
	}
	return nil
}

func checkNodeSelector(tgb *elbv2api.TargetGroupBinding) error {
	if tgb.Spec.TargetType != nil && *tgb.Spec.TargetType == elbv2api.TargetTypeIP && tgb.Spec.NodeSelector != nil {
		return errors.New("TargetGroupBinding cannot set NodeSelector when TargetType is ip")
	}
	return nil
}

func checkIPAddressType(tgb *elbv2api.TargetGroupBinding, tg func() (*elbv2types.TargetGroup, error)) error {
	g, err := tg()
	if err != nil {
		return fmt.Errorf("unable to get target group IP address type: %w", err)
	}
	want, err := ipAddressTypeOf(g)
	if err != nil {
		return fmt.Errorf("unable to get target group IP address type: %w", err)
	}
	if tgb.Spec.IPAddressType != nil && *tgb.Spec.IPAddressType != want ||
		tgb.Spec.IPAddressType == nil && want != elbv2api.TargetGroupIPAddressTypeIPv4 {
		return fmt.Errorf("invalid IP address type %v for TargetGroup %v", want, tgb.Spec.TargetGroupARN)
	}
	return nil
}

// checkVpcID checks vpcID against the target group's. kelb's VPC id is not
// of AWS's form (vpc- and hex digits), so an id equal to the target
// group's passes the pattern check.
func checkVpcID(tgb *elbv2api.TargetGroupBinding, tg func() (*elbv2types.TargetGroup, error)) error {
	if tgb.Spec.VpcID == "" {
		return nil
	}
	g, err := tg()
	if err != nil {
		return fmt.Errorf("unable to get target group VpcID: %w", err)
	}
	have := aws.ToString(g.VpcId)
	if tgb.Spec.VpcID != have && !vpcIDPattern.MatchString(tgb.Spec.VpcID) {
		return fmt.Errorf("ValidationError: vpcID %v failed to satisfy constraint: VPC Id must begin with 'vpc-' followed by 8, 17 or 32 lowercase letters (a-f) or numbers.", tgb.Spec.VpcID)
	}
	if tgb.Spec.VpcID != have {
		return fmt.Errorf("invalid VpcID %v doesnt match VpcID from TargetGroup %v", tgb.Spec.VpcID, tgb.Spec.TargetGroupARN)
	}
	return nil
}

// checkAssumeRole refuses what the AWS Load Balancer Controller refuses
// with an assumed role. kelb server is one account: a binding with
// iamRoleArnToAssume is accepted as the Controller accepts it, and its
// target group is looked up in that one account.
func checkAssumeRole(tgb *elbv2api.TargetGroupBinding) error {
	if tgb.Spec.IamRoleArnToAssume == "" {
		if aws.ToBool(tgb.Spec.RegisterTargetsWithPodAvailabilityZone) {
			return errors.New("Unable to use registerTargetsWithPodAvailabilityZone without assume role")
		}
		return nil
	}
	if tgb.Spec.TargetType != nil && *tgb.Spec.TargetType == elbv2api.TargetTypeInstance {
		return errors.New("Unable to use instance target type while using assume role")
	}
	return nil
}

func checkProtocol(tgb *elbv2api.TargetGroupBinding, tg func() (*elbv2types.TargetGroup, error)) error {
	if tgb.Spec.TargetGroupProtocol == nil {
		return nil
	}
	g, err := tg()
	if err != nil {
		return fmt.Errorf("unable to get target group protocol: %w", err)
	}
	have := string(g.Protocol)
	if have != *tgb.Spec.TargetGroupProtocol {
		return fmt.Errorf("TargetGroup %v protocol differs (got %v, expected %v)", tgb.Spec.TargetGroupARN, *tgb.Spec.TargetGroupProtocol, have)
	}
	if (have == "QUIC" || have == "TCP_QUIC") && tgb.Spec.TargetType != nil && *tgb.Spec.TargetType == elbv2api.TargetTypeInstance {
		return errors.New("QUIC protocol is not supported for Instance target types.")
	}
	return nil
}

// NewTargetGroupBindingMutator returns the admission handler of
// MutateTargetGroupBinding (on create; an update is left as it is).
func NewTargetGroupBindingMutator(scheme *runtime.Scheme, elb TargetGroups) admission.Handler {
	return &mutating[*elbv2api.TargetGroupBinding]{
		decoder: admission.NewDecoder(scheme),
		newObj:  func() *elbv2api.TargetGroupBinding { return &elbv2api.TargetGroupBinding{} },
		mutate: func(ctx context.Context, _ admission.Request, tgb, old *elbv2api.TargetGroupBinding) error {
			if old != nil {
				return nil
			}
			return MutateTargetGroupBinding(ctx, elb, tgb)
		},
	}
}

// NewTargetGroupBindingValidator returns the admission handler of v.
func NewTargetGroupBindingValidator(scheme *runtime.Scheme, v *TargetGroupBindingValidator) admission.Handler {
	return &validating[*elbv2api.TargetGroupBinding]{
		decoder: admission.NewDecoder(scheme),
		newObj:  func() *elbv2api.TargetGroupBinding { return &elbv2api.TargetGroupBinding{} },
		validate: func(ctx context.Context, _ admission.Request, tgb, old *elbv2api.TargetGroupBinding) error {
			if old == nil {
				return v.ValidateCreate(ctx, tgb)
			}
			return v.ValidateUpdate(ctx, tgb, old)
		},
	}
}

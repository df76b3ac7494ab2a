package gateway

import (
	"context"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/model"
)

// Frontend is the deploy.Frontend of a GatewayClass controller's stacks:
// the AWS Load Balancer Controller's tag keys of ALB or NLB Gateways.
func Frontend(controller gatewayv1.GatewayController) deploy.Frontend {
	stack, resource := TagKeys(controller)
	return deploy.Frontend{StackTag: stack, ResourceTag: resource, SecurityGroupsFrom: "LoadBalancerConfiguration securityGroups", Kind: "Gateway"}
}

// Deployers returns the deployers of both controllers: base (its clients,
// cluster name and certificates) with each controller's Frontend.
func Deployers(base deploy.Deployer) map[gatewayv1.GatewayController]Deployer {
	out := map[gatewayv1.GatewayController]Deployer{}
	for _, c := range []gatewayv1.GatewayController{ControllerALB, ControllerNLB} {
		d := base
		d.Frontend = Frontend(c)
		out[c] = stackDeployer{&d}
	}
	return out
}

// stackDeployer is a deploy.Deployer as a Deployer.
type stackDeployer struct{ d *deploy.Deployer }

func (s stackDeployer) Deploy(ctx context.Context, st *model.Stack) (DeployResult, error) {
	res, err := s.d.Deploy(ctx, st)
	if err != nil {
		return DeployResult{}, err
	}
	return DeployResult{DNSName: res.DNSName, TargetGroupARNs: res.TargetGroupARNs, Changed: res.Changed, Warnings: res.Warnings}, nil
}

func (s stackDeployer) Delete(ctx context.Context, stackID string) error {
	return s.d.Delete(ctx, stackID)
}

package elb

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRules(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	alb, err := env.svc.CreateLoadBalancer(ctx, CreateLoadBalancerInput{Name: "app", Subnets: []string{"subnet-a"}})
	if err != nil {
		t.Fatal(err)
	}
	web := env.tg(t, "web", "HTTP")
	api := env.tg(t, "api", "HTTP")
	l := env.listener(t, alb.ARN, web.ARN, "HTTP", 80)
	fwd := func(tg string) []Action { return []Action{{Type: ActionForward, TargetGroupARN: tg}} }
	path := func(p string) []RuleCondition { return []RuleCondition{{Field: "path-pattern", Values: []string{p}}} }

	tests := []struct {
		name     string
		in       CreateRuleInput
		wantCode string
	}{
		{name: "path rule", in: CreateRuleInput{ListenerARN: l.ARN, Priority: 10, Conditions: path("/api/*"), Actions: fwd(api.ARN)}},
		{name: "second rule", in: CreateRuleInput{ListenerARN: l.ARN, Priority: 20, Conditions: []RuleCondition{{Field: "host-header", Values: []string{"www.example.com"}}}, Actions: fwd(web.ARN)}},
		{name: "priority in use", in: CreateRuleInput{ListenerARN: l.ARN, Priority: 10, Conditions: path("/x"), Actions: fwd(api.ARN)}, wantCode: CodePriorityInUse},
		{name: "no condition", in: CreateRuleInput{ListenerARN: l.ARN, Priority: 30, Actions: fwd(api.ARN)}, wantCode: CodeValidationError},
		{name: "bad field", in: CreateRuleInput{ListenerARN: l.ARN, Priority: 30, Conditions: []RuleCondition{{Field: "cookie", Values: []string{"a"}}}, Actions: fwd(api.ARN)}, wantCode: CodeValidationError},
		{name: "missing listener", in: CreateRuleInput{ListenerARN: l.ARN + "0", Priority: 30, Conditions: path("/x"), Actions: fwd(api.ARN)}, wantCode: CodeListenerNotFound},
		{name: "priority out of range", in: CreateRuleInput{ListenerARN: l.ARN, Priority: 50001, Conditions: path("/x"), Actions: fwd(api.ARN)}, wantCode: CodeValidationError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := env.svc.CreateRule(ctx, tt.in)
			wantCode(t, err, tt.wantCode)
		})
	}

	rules, err := env.svc.DescribeRules(ctx, DescribeRulesInput{ListenerARN: l.ARN})
	wantCode(t, err, "")
	var prios []string
	for _, r := range rules {
		prios = append(prios, r.Priority)
	}
	if diff := cmp.Diff([]string{"10", "20", "default"}, prios); diff != "" {
		t.Errorf("rule priorities (-want +got):\n%s", diff)
	}
	if !rules[2].IsDefault || rules[2].Actions[0].TargetGroupARN != web.ARN {
		t.Errorf("default rule = %+v", rules[2])
	}

	// The group a rule forwards to is in use, and counts for the load balancer.
	wantCode(t, env.svc.DeleteTargetGroup(ctx, api.ARN), CodeResourceInUse)
	tgs, err := env.svc.DescribeTargetGroups(ctx, DescribeTargetGroupsInput{TargetGroupARNs: []string{api.ARN}})
	wantCode(t, err, "")
	if diff := cmp.Diff([]string{alb.ARN}, tgs[0].LoadBalancerARNs); diff != "" {
		t.Errorf("load balancers of a rule's group (-want +got):\n%s", diff)
	}

	_, err = env.svc.SetRulePriorities(ctx, []RulePriority{{RuleARN: rules[0].ARN, Priority: 20}})
	wantCode(t, err, CodePriorityInUse)
	_, err = env.svc.SetRulePriorities(ctx, []RulePriority{{RuleARN: rules[0].ARN, Priority: 20}, {RuleARN: rules[1].ARN, Priority: 10}})
	wantCode(t, err, "")
	mod, err := env.svc.ModifyRule(ctx, ModifyRuleInput{RuleARN: rules[0].ARN, Conditions: path("/v2/*")})
	wantCode(t, err, "")
	if mod.Priority != "20" || mod.Conditions[0].Values[0] != "/v2/*" {
		t.Errorf("modified rule = %+v", mod)
	}
	_, err = env.svc.ModifyRule(ctx, ModifyRuleInput{RuleARN: rules[2].ARN, Conditions: path("/")})
	wantCode(t, err, CodeOperationNotPermitted)
	def, err := env.svc.ModifyRule(ctx, ModifyRuleInput{RuleARN: rules[2].ARN, Actions: []Action{{Type: ActionFixedResponse, FixedResponse: &FixedResponseConfig{StatusCode: "404"}}}})
	wantCode(t, err, "")
	if def.Actions[0].Type != ActionFixedResponse {
		t.Errorf("default rule after modify = %+v", def)
	}
	wantCode(t, env.svc.DeleteRule(ctx, rules[2].ARN), CodeOperationNotPermitted)
	wantCode(t, env.svc.DeleteRule(ctx, rules[0].ARN), "")
	wantCode(t, env.svc.DeleteRule(ctx, rules[0].ARN), CodeRuleNotFound)

	// Rules go with their load balancer.
	wantCode(t, env.svc.DeleteLoadBalancer(ctx, alb.ARN), "")
	st, err := env.svc.Snapshot(ctx)
	wantCode(t, err, "")
	if len(st.Rules) != 0 {
		t.Errorf("rules left after deleting the load balancer: %d", len(st.Rules))
	}

	nlb := env.nlb(t, "net")
	tcp := env.tg(t, "tcp", "TCP")
	nl := env.listener(t, nlb.ARN, tcp.ARN, "TCP", 80)
	_, err = env.svc.CreateRule(ctx, CreateRuleInput{ListenerARN: nl.ARN, Priority: 1, Conditions: path("/"), Actions: fwd(tcp.ARN)})
	wantCode(t, err, CodeInvalidConfigurationRequest)
}

package deploy

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/controller/model"
)

func TestPlanRules(t *testing.T) {
	fwd := func(arn string) model.Action {
		return model.Action{Type: model.ActionForward, Forward: &model.ForwardAction{TargetGroups: []model.WeightedTargetGroup{{ARN: arn, Weight: 1}}}}
	}
	path := func(p string) []model.Condition {
		return []model.Condition{{Field: "path-pattern", Values: []string{p}}}
	}
	rule := func(prio int32, p, tg string) model.Rule {
		return model.Rule{Priority: prio, Conditions: path(p), Action: fwd(tg)}
	}
	have := func(arn string, prio int32, p, tg string) ActualRule {
		return ActualRule{ARN: arn, Priority: prio, Conditions: path(p), Action: fwd(tg)}
	}
	for _, tc := range []struct {
		name    string
		desired []model.Rule
		actual  []ActualRule
		want    RulePlan
	}{
		{"same", []model.Rule{rule(1, "/a", "A")}, []ActualRule{have("r1", 1, "/a", "A")}, RulePlan{}},
		{"swap", []model.Rule{rule(1, "/b", "B"), rule(2, "/a", "A")}, []ActualRule{have("r1", 1, "/a", "A"), have("r2", 2, "/b", "B")},
			RulePlan{Priorities: []RulePriorityChange{{ARN: "r2", Priority: 1}, {ARN: "r1", Priority: 2}}}},
		{"modify", []model.Rule{rule(1, "/a", "B")}, []ActualRule{have("r1", 1, "/a", "A")},
			RulePlan{Modify: []RuleChange{{ARN: "r1", Rule: rule(1, "/a", "B")}}}},
		{"create and delete", []model.Rule{rule(1, "/a", "A"), rule(2, "/c", "C")}, []ActualRule{have("r1", 1, "/a", "A"), have("r3", 3, "/x", "X")},
			RulePlan{Create: []model.Rule{rule(2, "/c", "C")}, Delete: []string{"r3"}}},
		{"insert at front", []model.Rule{rule(1, "/new", "N"), rule(2, "/a", "A")}, []ActualRule{have("r1", 1, "/a", "A")},
			RulePlan{Priorities: []RulePriorityChange{{ARN: "r1", Priority: 2}}, Create: []model.Rule{rule(1, "/new", "N")}}},
		{"redirect defaults", []model.Rule{{Priority: 1, Conditions: path("/r"), Action: model.Action{Type: model.ActionRedirect, Redirect: &model.RedirectAction{Protocol: "HTTPS", StatusCode: "HTTP_301"}}}},
			[]ActualRule{{ARN: "r1", Priority: 1, Conditions: path("/r"), Action: model.Action{Type: model.ActionRedirect, Redirect: &model.RedirectAction{Protocol: "HTTPS", Port: "#{port}", Host: "#{host}", Path: "/#{path}", Query: "#{query}", StatusCode: "HTTP_301"}}}},
			RulePlan{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, PlanRules(tc.desired, tc.actual)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

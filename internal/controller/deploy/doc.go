// Package deploy makes kelb server hold a desired model.Stack through the
// ELBv2 API: the one deployer of kelb controller's front-ends.
//
// A deploy runs in three steps, as the AWS Load Balancer Controller's does:
//
//   - Find (find.go) reads what exists. It is stateless: the stack's load
//     balancer is looked up by its deterministic name and kept only when
//     its elbv2.k8s.aws/cluster and stack tags say it is the stack's; its
//     target groups are those it forwards to, with the same tags. Only when
//     the name finds nothing of the stack's, or a desired target group is
//     missing, does Find look the stack's resources up by their tags, which
//     also finds the leftovers of an interrupted replacement: GetResources
//     of the Resource Groups Tagging API filtered on the stack and cluster
//     tags (Deployer.Tagging), so a cold start of N stacks costs O(N)
//     calls. A Deployer without a Tagging client (a server without
//     GetResources) lists every load balancer
//     or target group and reads their tags instead (20 ARNs per
//     DescribeTags call, the API's limit): O(N) calls per stack.
//   - Diff (plan.go), a pure function, compares the stack with what exists
//     and returns a Plan. It never replaces what ELBv2 can modify in place:
//     the load balancer is replaced only when its name, scheme or type
//     changes, a target group only when its name, protocol, port, target
//     type or address type does.
//     Listeners are compared by port; an application load balancer's
//     rules by priority, then by content (PlanRules), so a reordered
//     group costs one SetRulePriorities call rather than new rules.
//   - apply (deployer.go, with the calls of each resource kind in
//     loadbalancer.go, listener.go, rule.go, targetgroup.go, tags.go and
//     securitygroups.go) runs the plan: deletions of listeners and load
//     balancers first, then creations and modifications, and the target
//     groups no listener uses last.
//
// Before Find, resolve (resolve.go) turns what a stack names outside
// itself into ARNs: TLS Secrets imported into kelb's certificate store,
// certificates discovered by host or requested, target groups named by
// name, trust stores; authenticate-oidc actions get their client id and
// secret. A Frontend (service.Frontend, ingress.Frontend) names the tag
// keys of its stacks and, in errors, where their settings come from.
//
// Failure behaviour: any API error stops the deploy and is returned
// wrapped with the call and the resource it was about. Security groups and
// TLS Secrets are resolved before anything is written, so a missing one
// changes nothing; otherwise the work done so far stays in place and the
// next reconcile continues from what exists. Find writes nothing.
package deploy

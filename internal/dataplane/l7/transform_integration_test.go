package l7_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/kelb-io/kelb/internal/elb"
)

// TestTransformsThroughTheAPIs configures a rule with a regex condition
// and both transforms, and listener response header attributes, with
// aws-sdk-go-v2 against the ELBv2 API, and sends real requests through
// the plane that follows the store.
func TestTransformsThroughTheAPIs(t *testing.T) {
	ctx := context.Background()
	k := startAPI(t)
	c := k.client()
	lb, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("rewrites"), Type: types.LoadBalancerTypeEnumApplication})
	if err != nil {
		t.Fatal(err)
	}
	lbIP := aws.ToString(lb.LoadBalancers[0].AvailabilityZones[0].LoadBalancerAddresses[0].IpAddress)
	tg, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("echo"), Protocol: types.ProtocolEnumHttp,
		Port: aws.Int32(80), TargetType: types.TargetTypeEnumIp, VpcId: aws.String(elb.DefaultVpcID)})
	if err != nil {
		t.Fatal(err)
	}
	tgARN := tg.TargetGroups[0].TargetGroupArn
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "sniff-me")
		fmt.Fprintf(w, "host=%s uri=%s", r.Host, r.RequestURI)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	if _, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tgARN,
		Targets: []types.TargetDescription{{Id: aws.String("127.0.0.1"), Port: aws.Int32(int32(ln.Addr().(*net.TCPAddr).Port))}}}); err != nil {
		t.Fatal(err)
	}
	port := freePort(t, lbIP)
	ls, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn, Protocol: types.ProtocolEnumHttp,
		Port: aws.Int32(port), DefaultActions: []types.Action{{Type: types.ActionTypeEnumFixedResponse,
			FixedResponseConfig: &types.FixedResponseActionConfig{StatusCode: aws.String("404"), MessageBody: aws.String("none")}}}})
	if err != nil {
		t.Fatal(err)
	}
	lsARN := ls.Listeners[0].ListenerArn
	if _, err := c.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: lsARN, Priority: aws.Int32(1),
		Conditions: []types.RuleCondition{{Field: aws.String("path-pattern"), PathPatternConfig: &types.PathPatternConditionConfig{RegexValues: []string{`^/api/v[0-9]+/`}}}},
		Actions:    []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: tgARN}},
		Transforms: []types.RuleTransform{
			{Type: types.TransformTypeEnumHostHeaderRewrite, HostHeaderRewriteConfig: &types.HostHeaderRewriteConfig{
				Rewrites: []types.RewriteConfig{{Regex: aws.String(`^(.+)\.example\.com$`), Replace: aws.String("$1.example.org")}}}},
			{Type: types.TransformTypeEnumUrlRewrite, UrlRewriteConfig: &types.UrlRewriteConfig{
				Rewrites: []types.RewriteConfig{{Regex: aws.String(`^/api/v[0-9]+/(.+)$`), Replace: aws.String("/$1")}}}},
		}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModifyListenerAttributes(ctx, &elbv2.ModifyListenerAttributesInput{ListenerArn: lsARN, Attributes: []types.ListenerAttribute{
		{Key: aws.String("routing.http.response.x_content_type_options.header_value"), Value: aws.String("nosniff")},
		{Key: aws.String("routing.http.response.access_control_allow_origin.header_value"), Value: aws.String("https://app.example.com")},
		{Key: aws.String("routing.http.response.server.enabled"), Value: aws.String("false")},
	}}); err != nil {
		t.Fatal(err)
	}
	k.sync(t)

	get := func(host, path string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s:%d%s", lbIP, port, path), nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("shop.example.com", "/api/v1/cart?id=3")
	if resp.StatusCode != 200 || body != "host=shop.example.org uri=/cart?id=3" {
		t.Errorf("rewritten request: %d %q", resp.StatusCode, body)
	}
	if got := resp.Header.Values("X-Content-Type-Options"); len(got) != 1 || got[0] != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q, want [nosniff]", got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
		t.Errorf("Access-Control-Allow-Origin = %q", got)
	}
	resp, body = get("shop.example.com", "/web/v1/cart")
	if resp.StatusCode != 404 || body != "none" || resp.Header.Get("Server") != "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("default fixed response: %d %q Server %q headers %v", resp.StatusCode, body, resp.Header.Get("Server"), resp.Header)
	}

	// Turning the Server header back on puts ALB's on kelb's own answers.
	if _, err := c.ModifyListenerAttributes(ctx, &elbv2.ModifyListenerAttributesInput{ListenerArn: lsARN, Attributes: []types.ListenerAttribute{
		{Key: aws.String("routing.http.response.server.enabled"), Value: aws.String("true")}}}); err != nil {
		t.Fatal(err)
	}
	k.sync(t)
	if resp, _ := get("a.test", "/"); resp.Header.Get("Server") != "awselb/2.0" {
		t.Errorf("Server with server.enabled=true = %q", resp.Header.Get("Server"))
	}
}

// TestTransformsWithTheAWSCLI creates and resets a rule's transforms and
// regex conditions with the aws CLI, and a request goes through the
// rewritten rule.
func TestTransformsWithTheAWSCLI(t *testing.T) {
	ctx := context.Background()
	k := startAPI(t)
	c := k.client()
	lb, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("cli-rewrites"), Type: types.LoadBalancerTypeEnumApplication})
	if err != nil {
		t.Fatal(err)
	}
	lbIP := aws.ToString(lb.LoadBalancers[0].AvailabilityZones[0].LoadBalancerAddresses[0].IpAddress)
	tg, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("echo"), Protocol: types.ProtocolEnumHttp,
		Port: aws.Int32(80), TargetType: types.TargetTypeEnumIp, VpcId: aws.String(elb.DefaultVpcID)})
	if err != nil {
		t.Fatal(err)
	}
	tgARN := aws.ToString(tg.TargetGroups[0].TargetGroupArn)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.RequestURI) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	if _, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: &tgARN,
		Targets: []types.TargetDescription{{Id: aws.String("127.0.0.1"), Port: aws.Int32(int32(ln.Addr().(*net.TCPAddr).Port))}}}); err != nil {
		t.Fatal(err)
	}
	port := freePort(t, lbIP)
	ls, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn, Protocol: types.ProtocolEnumHttp,
		Port: aws.Int32(port), DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: &tgARN}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := k.aws(t, "elbv2", "create-rule", "--listener-arn", aws.ToString(ls.Listeners[0].ListenerArn), "--priority", "1",
		"--conditions", `[{"Field":"path-pattern","PathPatternConfig":{"RegexValues":["^/old/"]}}]`,
		"--actions", `[{"Type":"forward","TargetGroupArn":"`+tgARN+`"}]`,
		"--transforms", `[{"Type":"url-rewrite","UrlRewriteConfig":{"Rewrites":[{"Regex":"^/old/(.*)$","Replace":"/new/$1"}]}}]`)
	if err != nil {
		t.Fatal(err)
	}
	rule := out["Rules"].([]any)[0].(map[string]any)
	tr := rule["Transforms"].([]any)[0].(map[string]any)
	if tr["Type"] != "url-rewrite" || rule["Conditions"].([]any)[0].(map[string]any)["PathPatternConfig"].(map[string]any)["RegexValues"].([]any)[0] != "^/old/" {
		t.Errorf("create-rule answered %v", rule)
	}
	k.sync(t)
	get := func(path string) string {
		resp, err := http.Get(fmt.Sprintf("http://%s:%d%s", lbIP, port, path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get("/old/a?b=1"); got != "/new/a?b=1" {
		t.Errorf("target saw %q, want /new/a?b=1", got)
	}
	// A lookbehind is refused by the API, as the CLI shows it.
	if _, err := k.aws(t, "elbv2", "modify-rule", "--rule-arn", rule["RuleArn"].(string),
		"--transforms", `[{"Type":"url-rewrite","UrlRewriteConfig":{"Rewrites":[{"Regex":"(?<=/old)/x","Replace":"/y"}]}}]`); err == nil || !strings.Contains(err.Error(), "ValidationError") {
		t.Errorf("modify-rule with a lookbehind: %v, want a ValidationError", err)
	}
	if _, err := k.aws(t, "elbv2", "modify-rule", "--rule-arn", rule["RuleArn"].(string), "--reset-transforms"); err != nil {
		t.Fatal(err)
	}
	k.sync(t)
	if got := get("/old/a"); got != "/old/a" {
		t.Errorf("after --reset-transforms the target saw %q, want /old/a", got)
	}
}

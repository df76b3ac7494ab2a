package servertest

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	corev1 "k8s.io/api/core/v1"

	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/service"
)

// modifyCounter is kelb server's client, counting the calls that change a
// target group's attributes.
type modifyCounter struct {
	deploy.ELBv2
	modifies atomic.Int64
}

func (c *modifyCounter) ModifyTargetGroupAttributes(ctx context.Context, in *elbv2.ModifyTargetGroupAttributesInput, opts ...func(*elbv2.Options)) (*elbv2.ModifyTargetGroupAttributesOutput, error) {
	c.modifies.Add(1)
	return c.ELBv2.ModifyTargetGroupAttributes(ctx, in, opts...)
}

// A new target group whose attributes are the server's defaults costs no
// ModifyTargetGroupAttributes; one with another value gets exactly that
// value, in one call.
func TestNewTargetGroupWritesOnlyChangedAttributes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		modifies    int64
		want        map[string]string
	}{
		{name: "defaults", modifies: 0, want: map[string]string{"proxy_protocol_v2.enabled": "false"}},
		{name: "proxy protocol", annotations: map[string]string{service.AnnotationProxyProtocol: "*"}, modifies: 1,
			want: map[string]string{"proxy_protocol_v2.enabled": "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, _ := server(t)
			c := &modifyCounter{ELBv2: client}
			d := &deploy.Deployer{Client: c, ClusterName: opts.ClusterName, Frontend: service.Frontend}
			st := build(t, testService(func(s *corev1.Service) {
				for k, v := range tc.annotations {
					s.Annotations[k] = v
				}
			}))
			res, err := d.Deploy(ctx, st)
			if err != nil {
				t.Fatalf("deploy: %v", err)
			}
			if n := c.modifies.Load(); n != tc.modifies {
				t.Errorf("ModifyTargetGroupAttributes calls = %d, want %d", n, tc.modifies)
			}
			for _, arn := range res.TargetGroupARNs {
				out, err := client.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: &arn})
				if err != nil {
					t.Fatal(err)
				}
				have := map[string]string{}
				for _, a := range out.Attributes {
					have[aws.ToString(a.Key)] = aws.ToString(a.Value)
				}
				for k, v := range tc.want {
					if have[k] != v {
						t.Errorf("attribute %s = %q, want %q", k, have[k], v)
					}
				}
			}
			// A second deploy finds everything as wanted.
			before := c.modifies.Load()
			if again, err := d.Deploy(ctx, st); err != nil || again.Changed || c.modifies.Load() != before {
				t.Errorf("second deploy: changed=%v modifies=%d err=%v", again != nil && again.Changed, c.modifies.Load()-before, err)
			}
		})
	}
}

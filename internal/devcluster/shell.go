package devcluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// ShellCommand returns the command that runs args (default: $SHELL, or
// /bin/sh) inside environment name, with KUBECONFIG, the ELBv2 endpoint,
// credentials and region set, the environment's kubectl first on PATH,
// and name resolution pointed at kelb's DNS (ip netns exec bind-mounts
// /etc/netns/<namespace>/resolv.conf).
func ShellCommand(ctx context.Context, name string, args []string) (*exec.Cmd, error) {
	if name == "" {
		name = "default"
	}
	st, err := LoadState(name)
	if err != nil {
		return nil, err
	}
	if !st.Rootless {
		if err := checkPrivileges(); err != nil {
			return nil, err
		}
	}
	if !environmentExists(st) {
		return nil, fmt.Errorf("environment %q: network namespace %s is gone; run kelb down --name %s, then kelb up", name, st.Namespace, name)
	}
	if len(args) == 0 {
		sh := os.Getenv("SHELL")
		if sh == "" {
			sh = "/bin/sh"
		}
		args = []string{sh}
	}
	cmd := enter(ctx, st, args[0], args[1:]...)
	env := os.Environ()
	for i, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			env[i] = "PATH=" + st.BinDir + ":" + strings.TrimPrefix(kv, "PATH=")
		}
	}
	cmd.Env = append(env, st.Env()...)
	return cmd, nil
}

// PrintEnv prints how to use environment st.
func PrintEnv(out io.Writer, st *State) {
	name := st.Options.Name
	flag := ""
	if name != "default" {
		flag = " --name " + name
	}
	zones := st.Options.Zones
	if len(zones) > st.Options.Nodes {
		zones = zones[:st.Options.Nodes]
	}
	mode := ""
	if st.Rootless {
		mode = " (rootless: a user namespace)"
	}
	fmt.Fprintf(out, "Kubernetes %s, %d nodes in %s, network namespace %s%s.\n", st.K8sVer, st.Options.Nodes, strings.Join(zones, ", "), st.Namespace, mode)
	fmt.Fprintf(out, "KUBECONFIG: %s\n", st.Kubeconfig)
	fmt.Fprintf(out, "ELBv2 API:  %s\n", st.APIEndpoint())
	for i := 1; i <= st.Options.LBNodes; i++ {
		fmt.Fprintf(out, "lb node %s: zone %s, namespace %s, API %s\n", LBNodeName(i), LBZone(st.Options.Zones, i), LBNamespace(st.Namespace, i), LBEndpoint(i))
	}
	if st.Options.LBNodes > 0 {
		routing := "BGP (birdc -s " + st.BirdSocket() + " show route)"
		if !st.Options.Fleet.BGP {
			routing = "static ECMP routes (fallback: this kelb server has no --announce bgp)"
		}
		fmt.Fprintf(out, "router:     namespace %s, %s\n", RouterNamespace(st.Namespace), routing)
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "Open a shell inside the environment (kubectl %s first on PATH, DNS via kelb):\n\n    kelb shell%s\n\n", st.K8sVer, flag)
	fmt.Fprintf(out, "or run one command there:  kelb shell%s -- kubectl get nodes\n\n", flag)
	if st.Rootless {
		fmt.Fprintf(out, "Inside the namespace (nsenter --target %d --user --net --mount --preserve-credentials ...), this is the environment:\n\n", st.Holder.PID)
	} else {
		fmt.Fprintf(out, "Inside the namespace (ip netns exec %s ...), this is the environment:\n\n", st.Namespace)
	}
	for _, kv := range st.Env() {
		if strings.HasPrefix(kv, "AWS_REGION=") || strings.HasPrefix(kv, "KELB_ENV=") {
			continue
		}
		if name, ok := strings.CutSuffix(kv, "="); ok {
			fmt.Fprintf(out, "unset %s\n", name)
			continue
		}
		fmt.Fprintf(out, "export %s\n", kv)
	}
	fmt.Fprintf(out, "export PATH=%s:$PATH\n\n", st.BinDir)
	fmt.Fprintf(out, "Try:\n\n")
	fmt.Fprintf(out, "kubectl get nodes -L topology.kubernetes.io/zone\n")
	fmt.Fprintf(out, "kubectl create deployment ui --image=registry.k8s.io/echoserver:1.10 --replicas=2 --port=8080\n")
	fmt.Fprintf(out, "kubectl get pods -o wide\n")
	if st.has("kelb-controller") {
		fmt.Fprint(out, tryNLB)
	} else {
		fmt.Fprintf(out, "curl http://$(kubectl get pods -l app=ui -o jsonpath='{.items[0].status.podIP}'):8080/\n")
	}
	fmt.Fprintf(out, "aws elbv2 describe-load-balancers\n\n")
	fmt.Fprintf(out, "kelb status%s reports every component; kelb down%s removes everything.\n", flag, flag)
}

// tryNLB is the first walkthrough once kelb controller runs: an NLB in IP
// mode for the ui Deployment, as on EKS. It is not indented, so that it
// can be pasted into a shell as it is (the heredoc ends at a bare EOF).
const tryNLB = `kubectl apply -f - <<EOF
apiVersion: v1
kind: Service
metadata:
  name: ui-nlb
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-type: external
    service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip
    service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing
spec:
  type: LoadBalancer
  selector: {app: ui}
  ports: [{port: 80, targetPort: 8080}]
EOF
kubectl get service ui-nlb
curl http://$(kubectl get service ui-nlb -o jsonpath='{.status.loadBalancer.ingress[0].hostname}')/
`

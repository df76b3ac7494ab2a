package server_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// newConnClient is an HTTP client that opens a new connection for every
// request, as `curl` in a loop does.
func newConnClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true},
		Timeout:   5 * time.Second,
	}
}

// hostnameOf GETs url and returns the backend's "Hostname: " line.
func hostnameOf(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if name, ok := strings.CutPrefix(line, "Hostname: "); ok {
			return name, nil
		}
	}
	return "", fmt.Errorf("no Hostname in %q", body)
}

// TestSpreadOverTwoTargets is seed 004's check: 100 requests, each on a new
// connection, through an NLB TCP listener spread about evenly over two
// healthy targets.
func TestSpreadOverTwoTargets(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	b1 := startHTTPBackend(t, "deploy-echo-1", tn.backend("a", 1)+":8080")
	b2 := startHTTPBackend(t, "deploy-echo-2", tn.backend("a", 2)+":8080")
	st := createStack(t, s, stackSpec{
		name: "svc-nlb-ip-type", port: 80, tgPort: 8080,
		targets: []types.TargetDescription{ipTarget(t, b1.Addr), ipTarget(t, b2.Addr)},
	})
	waitHealth(t, s, st.TG, b1.Addr, "healthy", 30*time.Second)
	waitHealth(t, s, st.TG, b2.Addr, "healthy", 30*time.Second)

	c := newConnClient()
	url := "http://" + st.listenerAddr("a", 80) + "/"
	counts := map[string]int{}
	for i := range 100 {
		name, err := hostnameOf(c, url)
		if err != nil {
			t.Fatalf("request %d to %s: %v", i, url, err)
		}
		counts["Hostname: "+name]++
	}
	t.Logf("for i in {1..100}; do curl -s %s | grep Hostname; done | sort | uniq -c | sort -nr\n%s", url, histogram(counts))
	for _, b := range []*httpBackend{b1, b2} {
		if n := counts["Hostname: "+b.Name]; n < 30 || n > 70 {
			t.Errorf("%s got %d of 100 requests, want 30..70", b.Name, n)
		}
	}
}

package l2_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kelb-io/kelb/internal/announce/l2"
	"github.com/kelb-io/kelb/internal/devcluster/kubelet/netnstest"
	"github.com/kelb-io/kelb/internal/elb/store/etcdtest"
)

// cutProxy forwards TCP connections to an address until cut, which closes
// them all and refuses new ones until restore.
type cutProxy struct {
	to   string
	addr string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func startCutProxy(t *testing.T, to string) *cutProxy {
	t.Helper()
	p := &cutProxy{to: to}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *cutProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.to)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *cutProxy) restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(ln)
}

// TestFailStatic cuts one node off etcd: alone, it keeps its address
// while its session is gone and keeps it with a new session once etcd
// answers; with a second node, that node takes the address over when the
// cut-off node's lease runs out, and the cut-off node keeps it until etcd
// answers again and shows the other owner, then gives it up.
func TestFailStatic(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	// Bridges without ports hold local addresses (the kernel may lack dummy).
	for _, dev := range []string{"l2a", "l2b"} {
		if out, err := exec.Command("ip", "link", "add", dev, "type", "bridge").CombinedOutput(); err != nil {
			t.Fatalf("ip link add %s: %v\n%s", dev, err, out)
		}
		if out, err := exec.Command("ip", "link", "set", dev, "up").CombinedOutput(); err != nil {
			t.Fatalf("ip link set %s up: %v\n%s", dev, err, out)
		}
	}
	srv := etcdtest.Start(t, etcdtest.Options{})
	proxy := startCutProxy(t, srv.Endpoint[len("http://"):])
	client := func(endpoint string) *clientv3.Client {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		return cli
	}
	direct := client(srv.Endpoint)
	const prefix = "/kelb-l2/"
	addr := netip.MustParseAddr("198.19.1.10")
	start := func(dev, endpoint string) *l2.Announcer {
		a, err := l2.New(l2.Config{Session: sessions(client(endpoint)), Prefix: prefix, Name: dev, Interface: dev})
		if err != nil {
			t.Fatal(err)
		}
		a.Set([]netip.Addr{addr})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = a.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return a
	}
	holds := func(a *l2.Announcer) bool { return slices.Contains(a.Owned(), addr) }
	// owner is the lease of the election's owner (0: none).
	owner := func() int64 {
		resp, err := direct.Get(context.Background(), prefix+"l2/"+addr.String()+"/", clientv3.WithFirstCreate()...)
		if err != nil || len(resp.Kvs) == 0 {
			return 0
		}
		return resp.Kvs[0].Lease
	}

	a := start("l2a", "http://"+proxy.addr)
	eventually(t, "a owns the address", func() error {
		if !holds(a) || owner() == 0 {
			return fmt.Errorf("a holds it: %v, owner lease %x", holds(a), owner())
		}
		return nil
	})
	first := owner()

	// Cut off and alone: its lease runs out, it keeps the address.
	proxy.cut()
	eventually(t, "a's lease runs out", func() error {
		if o := owner(); o != 0 {
			return fmt.Errorf("owner lease %x still there", o)
		}
		return nil
	})
	if !holds(a) {
		t.Fatal("a gave the address up on losing etcd")
	}
	// etcd answers again and shows no other owner: a keeps the address,
	// owning it under a new lease.
	proxy.restore(t)
	eventually(t, "a owns the address again under a new lease", func() error {
		if o := owner(); o == 0 || o == first {
			return fmt.Errorf("owner lease %x (first %x)", o, first)
		}
		return nil
	})
	if !holds(a) {
		t.Fatal("a gave the address up though nobody else owns it")
	}

	// With b campaigning, a is cut off again: b takes over when a's lease
	// runs out, a keeps the address while it cannot see etcd.
	b := start("l2b", srv.Endpoint)
	time.Sleep(500 * time.Millisecond) // b's campaign is waiting behind a
	if holds(b) {
		t.Fatal("b holds the address while a owns it")
	}
	proxy.cut()
	eventually(t, "b takes over", func() error {
		if !holds(b) {
			return fmt.Errorf("b does not hold the address")
		}
		return nil
	})
	if !holds(a) {
		t.Fatal("a gave the address up before etcd answered it again")
	}
	// etcd answers a again, showing b as the owner: a gives the address up.
	proxy.restore(t)
	eventually(t, "a gives the address up", func() error {
		if holds(a) {
			return fmt.Errorf("a still holds the address")
		}
		return nil
	})
	if !holds(b) {
		t.Error("b lost the address")
	}
}

package connlimit

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

func listen(t *testing.T, max int) *Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(ln, max)
	t.Cleanup(func() { l.Close() })
	return l
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCapHoldsUntilAConnectionCloses(t *testing.T) {
	l := listen(t, 2)
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		dial(t, l.Addr().String())
	}
	first, second := <-accepted, <-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted with two open and a cap of 2")
	case <-time.After(200 * time.Millisecond):
	}
	if got := l.Open(); got != 2 {
		t.Errorf("Open() = %d, want 2", got)
	}
	// Closing twice frees one slot, not two.
	first.Close()
	first.Close()
	third := <-accepted
	if third == nil {
		t.Fatal("listener closed")
	}
	if got := l.Open(); got != 2 {
		t.Errorf("Open() after a close and an accept = %d, want 2", got)
	}
	second.Close()
	third.Close()
	if got := l.Open(); got != 0 {
		t.Errorf("Open() with every connection closed = %d, want 0", got)
	}
	l.Close()
	if _, ok := <-accepted; ok {
		t.Error("Accept returned a connection after Close")
	}
}

func TestIdleConnectionsMakeRoomForRequests(t *testing.T) {
	const max = 4
	l := listen(t, max)
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }),
		ConnState: l.ConnState,
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	// Connections that send nothing, or half a request head, fill every
	// slot...
	var stalled []net.Conn
	for i := range 2 * max {
		c := dial(t, l.Addr().String())
		if i%2 == 1 {
			fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n")
		}
		stalled = append(stalled, c)
	}
	// ...and still a client sending whole requests is answered, each time
	// on a new connection.
	for i := range 10 {
		c := dial(t, l.Addr().String())
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		if open := l.Open(); open > max {
			t.Fatalf("%d connections open, cap %d", open, max)
		}
	}
	if l.Evicted() < uint64(max) {
		t.Errorf("Evicted() = %d, want at least %d", l.Evicted(), max)
	}
	// The stalled connections accepted first were the ones evicted: they
	// read EOF.
	stalled[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := stalled[0].Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read on the oldest stalled connection: %v, want EOF", err)
	}
}

func TestBusyConnectionsAreNotEvicted(t *testing.T) {
	l := listen(t, 1)
	release, started := make(chan struct{}), make(chan struct{}, 2)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			started <- struct{}{}
			<-release
			io.WriteString(w, "done")
		}),
		ConnState: l.ConnState,
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	busy := dial(t, l.Addr().String())
	busy.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(busy, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	<-started // the first connection is busy with its request
	waiting := dial(t, l.Addr().String())
	fmt.Fprint(waiting, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	time.Sleep(200 * time.Millisecond) // let Accept see the second connection
	close(release)
	for i, c := range []net.Conn{busy, waiting} {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if body, _ := io.ReadAll(resp.Body); string(body) != "done" {
			t.Errorf("connection %d: %q", i, body)
		}
	}
	if l.Evicted() != 0 {
		t.Errorf("Evicted() = %d, want 0", l.Evicted())
	}
}

func TestHTTPServerDeadlines(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, cl := HTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			return
		}
		io.WriteString(w, "ok")
	}), ln, HTTPLimits{MaxConns: 8, ReadHeaderTimeout: time.Minute, ReadTimeout: 500 * time.Millisecond, WriteTimeout: time.Second, IdleTimeout: 500 * time.Millisecond})
	go srv.Serve(cl)
	t.Cleanup(func() { srv.Close() })

	// closed reports whether the server closes c before 50 trickles of
	// 100 ms are out.
	closed := func(c net.Conn, trickle string) bool {
		done := make(chan struct{})
		go func() {
			defer close(done)
			io.Copy(io.Discard, c)
		}()
		for range 50 {
			select {
			case <-done:
				return true
			case <-time.After(100 * time.Millisecond):
			}
			io.WriteString(c, trickle)
		}
		return false
	}
	for _, tt := range []struct{ name, first, trickle string }{
		{"slow head", "POST / HTTP/1.1\r\nHost: x\r\n", "X-Slow: 1\r\n"},
		{"endless body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", "body"},
		{"idle keep-alive", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", ""},
	} {
		c := dial(t, cl.Addr().String())
		c.SetDeadline(time.Now().Add(20 * time.Second))
		io.WriteString(c, tt.first)
		if !closed(c, tt.trickle) {
			t.Errorf("%s: the connection is open after 5 s, with a read timeout and an idle timeout of 500 ms", tt.name)
		}
	}
}

// Two listeners sharing a budget of two slots hold two connections
// together; at the budget a new connection of one takes the place of the
// other's idle connection, and with none idle it waits for a slot.
func TestBudgetSharedByListeners(t *testing.T) {
	b := NewBudget(2)
	la, lb := listen(t, 10), listen(t, 10)
	la.Share(b)
	lb.Share(b)
	accept := func(l *Listener) <-chan net.Conn {
		ch := make(chan net.Conn, 1)
		go func() {
			c, err := l.Accept()
			if err == nil {
				ch <- c
			}
		}()
		return ch
	}
	dial(t, la.Addr().String())
	a1 := <-accept(la)
	dial(t, la.Addr().String())
	a2 := <-accept(la)
	if b.InUse() != 2 {
		t.Fatalf("InUse() = %d, want 2", b.InUse())
	}
	// Both busy: lb's connection waits.
	dial(t, lb.Addr().String())
	waiting := accept(lb)
	select {
	case <-waiting:
		t.Fatal("a third connection was accepted with a budget of 2 and none idle")
	case <-time.After(200 * time.Millisecond):
	}
	// One of la's turns idle: lb's connection takes its place.
	Unwrap(a2).SetIdle(true)
	select {
	case <-waiting:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection waiting for the budget was not accepted once one of the other listener's was idle")
	}
	if la.Open()+lb.Open() != 2 || b.InUse() != 2 || la.Evicted() != 1 {
		t.Errorf("open %d+%d, in use %d, evicted %d; want 1+1, 2, 1", la.Open(), lb.Open(), b.InUse(), la.Evicted())
	}
	a1.Close()
	if b.InUse() != 1 {
		t.Errorf("InUse() = %d after a close, want 1", b.InUse())
	}
}

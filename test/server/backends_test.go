package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// httpBackend is an HTTP server on one address that answers every request
// with its name, like the seeds' echoserver ("Hostname: ..."). It can be
// stopped and started again on the same address.
type httpBackend struct {
	t    *testing.T
	Name string
	Addr string // host:port

	mu  sync.Mutex
	srv *http.Server
	wg  sync.WaitGroup
}

func startHTTPBackend(t *testing.T, name, addr string) *httpBackend {
	t.Helper()
	b := &httpBackend{t: t, Name: name, Addr: addr}
	b.Start()
	t.Cleanup(b.Stop)
	return b
}

// Start serves on b.Addr.
func (b *httpBackend) Start() {
	b.t.Helper()
	ln := listenRetry(b.t, "tcp", b.Addr)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "Hostname: %s\nclient_address=%s\n", b.Name, r.RemoteAddr)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.t.Errorf("backend %s: %v", b.Name, err)
		}
	}()
}

// Stop closes the listener and every connection.
func (b *httpBackend) Stop() {
	b.mu.Lock()
	srv := b.srv
	b.srv = nil
	b.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
	b.wg.Wait()
}

// listenRetry listens on addr, retrying for a few seconds: a port just
// closed by a stopped backend can take a moment to be free again.
func listenRetry(t *testing.T, network, addr string) net.Listener {
	t.Helper()
	var err error
	for range 50 {
		var ln net.Listener
		ln, err = net.Listen(network, addr)
		if err == nil {
			return ln
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("listen %s: %v", addr, err)
	return nil
}

// echoBackend is a TCP server that greets each connection with its name and
// a newline, then echoes what it reads. Connections are kept until the
// client closes them or the test ends.
type echoBackend struct {
	Name string
	Addr string
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn map[net.Conn]struct{}
}

func startEchoBackend(t *testing.T, name, addr string) *echoBackend {
	t.Helper()
	return serveEcho(t, name, listenRetry(t, "tcp", addr))
}

// serveEcho serves an echoBackend on ln.
func serveEcho(t *testing.T, name string, ln net.Listener) *echoBackend {
	t.Helper()
	b := &echoBackend{Name: name, Addr: ln.Addr().String(), ln: ln, conn: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := b.ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conn[c] = struct{}{}
			b.mu.Unlock()
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer func() {
					b.mu.Lock()
					delete(b.conn, c)
					b.mu.Unlock()
					c.Close()
				}()
				if _, err := fmt.Fprintf(c, "%s\n", b.Name); err != nil {
					return
				}
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		b.ln.Close()
		b.mu.Lock()
		for c := range b.conn {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

// echoConn is a client connection through the load balancer to an
// echoBackend.
type echoConn struct {
	net.Conn
	r      *bufio.Reader
	Target string // the greeting: the backend's name
}

// dialEcho connects to addr and reads the backend's greeting.
func dialEcho(ctx context.Context, addr string) (*echoConn, error) {
	var d net.Dialer
	return dialEchoWith(ctx, d.DialContext, addr)
}

// dialEchoWith is dialEcho with a dial function of its own.
func dialEchoWith(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error), addr string) (*echoConn, error) {
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	r := bufio.NewReader(c)
	name, err := r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting from %s: %w", addr, err)
	}
	_ = c.SetDeadline(time.Time{})
	return &echoConn{Conn: c, r: r, Target: name[:len(name)-1]}, nil
}

// roundTrip sends a line and reads it back.
func (c *echoConn) roundTrip(line string) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(c, "%s\n", line); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	got, err := c.r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if got != line+"\n" {
		return fmt.Errorf("echo = %q, want %q", got, line)
	}
	return nil
}

// whoAnswers opens one connection to addr and returns the greeting.
func whoAnswers(addr string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dialEcho(ctx, addr)
	if err != nil {
		return "", err
	}
	c.Close()
	return c.Target, nil
}

// startUDPEchoBackend answers every datagram with "NAME from IP: " and the
// datagram.
func startUDPEchoBackend(t *testing.T, name, addr string) {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("udp backend %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(from.String())
			_, _ = pc.WriteTo(append([]byte(name+" from "+host+": "), buf[:n]...), from)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
}

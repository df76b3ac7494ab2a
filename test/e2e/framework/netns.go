package framework

import (
	"context"
	"fmt"
	"net"
	"runtime"

	"github.com/vishvananda/netns"

	"github.com/kelb-io/kelb/internal/devcluster"
)

// inNetns runs f on a thread moved into the environment's network
// namespace, so that sockets f opens belong to it (and stay there), then
// moves the thread back. A thread that cannot move back stays locked to
// its ending goroutine, which the runtime then discards. It needs root (a
// rootless environment's namespace is owned by its user namespace).
func (e *Env) inNetns(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			done <- fmt.Errorf("this thread's network namespace: %w", err)
			return
		}
		defer orig.Close()
		h, err := netns.GetFromName(devcluster.Namespace(e.Name))
		if err != nil {
			done <- fmt.Errorf("network namespace of %s: %w", e.Name, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			done <- fmt.Errorf("enter the network namespace of %s: %w", e.Name, err)
			return
		}
		err = f()
		// Back in the test's namespace, the thread may serve other
		// goroutines again; kelb down stops the processes it finds in the
		// environment's namespace, and a test binary left there would be
		// one of them.
		if serr := netns.Set(orig); serr == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

// Listen listens on addr inside the environment's network namespace: a
// server of the test process that kelb server and the pods can reach
// (say on devcluster.ControlPlaneIP, port 0).
func (e *Env) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := e.inNetns(func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// DialContext dials addr from inside the environment's network namespace:
// a Transport's DialContext for a client of the test process that reaches
// the load balancers as the environment's clients do.
func (e *Env) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := e.inNetns(func() (err error) {
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

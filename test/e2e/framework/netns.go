package framework

import (
	"context"
	"net"

	"github.com/kelb-io/kelb/internal/devcluster"
	"github.com/kelb-io/kelb/internal/devcluster/kubelet/netnstest"
)

// inNetns runs f on a thread in the environment's network namespace, so
// that sockets f opens belong to it, and moves the thread back (see
// netnstest.In). It needs root (a rootless environment's namespace is owned
// by its user namespace).
func (e *Env) inNetns(f func() error) error {
	return netnstest.In(devcluster.Namespace(e.Name), f)
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

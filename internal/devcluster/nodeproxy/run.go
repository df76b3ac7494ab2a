package nodeproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Config configures Run.
type Config struct {
	// Client talks to the apiserver. Required.
	Client kubernetes.Interface
	// Nodes are the nodes whose NodePorts this process serves. Required.
	Nodes []Node
	// Options configure the proxy.
	Options
}

// retryInterval is how often listeners that failed to open are retried.
const retryInterval = 10 * time.Second

// Run watches Services and EndpointSlices and serves them on the nodes until
// ctx ends. Changes are applied together after a short pause, so a burst of
// EndpointSlice updates reconfigures the proxy once.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Client == nil || len(cfg.Nodes) == 0 {
		return errors.New("nodeproxy: a client and at least one node are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	factory := informers.NewSharedInformerFactory(cfg.Client, 0)
	services := factory.Core().V1().Services()
	slices := factory.Discovery().V1().EndpointSlices()
	changed := make(chan struct{}, 1)
	notify := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{AddFunc: notify, UpdateFunc: func(_, o any) { notify(o) }, DeleteFunc: notify}
	for _, inf := range []cache.SharedIndexInformer{services.Informer(), slices.Informer()} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return fmt.Errorf("watch services and endpoint slices: %w", err)
		}
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), services.Informer().HasSynced, slices.Informer().HasSynced) {
		return nil
	}

	p := New(cfg.Options)
	defer p.Close()
	retry := time.NewTicker(retryInterval)
	defer retry.Stop()
	lastErr := ""
	for {
		svcs, err := services.Lister().List(labels.Everything())
		if err != nil {
			return fmt.Errorf("list services: %w", err)
		}
		eps, err := slices.Lister().List(labels.Everything())
		if err != nil {
			return fmt.Errorf("list endpoint slices: %w", err)
		}
		if err := p.Apply(Build(cfg.Nodes, svcs, eps)); err != nil && err.Error() != lastErr {
			cfg.Log.Error("node proxy", "err", err)
			lastErr = err.Error()
		} else if err == nil {
			lastErr = ""
		}
		select {
		case <-ctx.Done():
			return nil
		case <-retry.C:
		case <-changed:
			// Let a burst of updates settle.
			t := time.NewTimer(50 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}

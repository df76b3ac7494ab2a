package kubelet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

// Config configures Run.
type Config struct {
	// Client talks to the apiserver. Required.
	Client kubernetes.Interface
	// Nodes are the nodes to simulate, usually from Plan. Required.
	Nodes []NodeSpec
	// KubeletVersion is reported in each node's nodeInfo; default v1.36.3.
	KubeletVersion string
	// HeartbeatInterval is how often leases and node conditions are
	// renewed; default 10s.
	HeartbeatInterval time.Duration
	// Log receives what happens to nodes and pods; default slog.Default().
	Log *slog.Logger
}

// kubelet simulates every node of a Config in one process.
type kubelet struct {
	cfg    Config
	log    *slog.Logger
	nodes  map[string]NodeSpec
	pods   corelisters.PodLister
	ipam   map[string]*podIPs // by node name
	queue  workqueue.TypedInterface[string]
	wg     sync.WaitGroup
	active map[string]*runningPod          // by namespace/name
	events map[string]record.EventRecorder // by node name
}

type runningPod struct {
	uid    types.UID
	node   string
	worker *podWorker
	cancel context.CancelFunc
	done   chan struct{}
}

// Run registers the nodes, keeps them Ready and runs the pods bound to them
// until ctx ends. It returns nil when ctx ends, or an error if it cannot start.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Client == nil || len(cfg.Nodes) == 0 {
		return errors.New("kubelet: a client and at least one node are required")
	}
	if cfg.KubeletVersion == "" {
		cfg.KubeletVersion = "v1.36.3"
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	k := &kubelet{
		cfg:    cfg,
		log:    cfg.Log,
		nodes:  map[string]NodeSpec{},
		ipam:   map[string]*podIPs{},
		queue:  workqueue.NewTyped[string](),
		active: map[string]*runningPod{},
		events: map[string]record.EventRecorder{},
	}
	// Pod events (Started, Unhealthy, Killing) as kubectl describe shows
	// them; the broadcaster drops events it cannot write.
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cfg.Client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	for _, n := range cfg.Nodes {
		k.nodes[n.Name] = n
		k.ipam[n.Name] = newPodIPs(n.PodCIDR)
		k.events[n.Name] = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: n.Name})
	}
	defer k.wg.Wait()
	for _, n := range cfg.Nodes {
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			k.runNode(ctx, n)
		}()
	}

	factory := informers.NewSharedInformerFactory(cfg.Client, 0)
	podInformer := factory.Core().V1().Pods()
	k.pods = podInformer.Lister()
	enqueue := func(obj any) {
		if pod, ok := obj.(*corev1.Pod); ok && k.nodes[pod.Spec.NodeName].Name == "" {
			return
		}
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			k.queue.Add(key)
		}
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		return fmt.Errorf("watch pods: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.Informer().HasSynced) {
		return nil // ctx ended
	}
	if err := k.reserveExistingIPs(); err != nil {
		return err
	}

	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		<-ctx.Done()
		k.queue.ShutDown()
	}()
	for {
		key, quit := k.queue.Get()
		if quit {
			break
		}
		k.sync(ctx, key)
		k.queue.Done(key)
	}
	for key := range k.active {
		k.stop(key)
	}
	return nil
}

// reserveExistingIPs keeps the IPs of pods that already run on our nodes
// (kelb nodes restarted), so that they keep their addresses.
func (k *kubelet) reserveExistingIPs() error {
	pods, err := k.pods.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	slices.SortFunc(pods, func(a, b *corev1.Pod) int {
		return cmp.Compare(a.CreationTimestamp.UnixNano(), b.CreationTimestamp.UnixNano())
	})
	for _, pod := range pods {
		ipam := k.ipam[pod.Spec.NodeName]
		if ipam == nil || pod.Spec.HostNetwork || pod.Status.PodIP == "" {
			continue
		}
		if ip, err := netip.ParseAddr(pod.Status.PodIP); err == nil {
			ipam.reserve(pod.Namespace+"/"+pod.Name, pod.UID, ip)
		}
	}
	return nil
}

// sync starts, updates or stops the worker of one pod.
func (k *kubelet) sync(ctx context.Context, key string) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return
	}
	pod, err := k.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		pod = nil
	} else if err != nil {
		k.log.Error("read pod from cache", "pod", key, "err", err)
		return
	}
	run := k.active[key]
	ours := pod != nil && k.nodes[pod.Spec.NodeName].Name != "" &&
		pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
	if run != nil && (!ours || run.uid != pod.UID || run.node != pod.Spec.NodeName) {
		k.stop(key)
		run = nil
	}
	if !ours {
		for _, ipam := range k.ipam {
			ipam.release(key, "")
		}
		return
	}
	if run != nil {
		run.worker.update(pod)
		return
	}
	node := k.nodes[pod.Spec.NodeName]
	ip := node.IP
	if !pod.Spec.HostNetwork {
		var ok bool
		ip, ok = k.ipam[node.Name].allocate(key, pod.UID)
		if !ok {
			k.log.Error("no free pod IP on node", "pod", key, "node", node.Name, "range", node.PodCIDR)
			return
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	w := newPodWorker(k.cfg.Client, k.events[node.Name], k.log, node, pod, ip)
	run = &runningPod{uid: pod.UID, node: node.Name, worker: w, cancel: cancel, done: make(chan struct{})}
	k.active[key] = run
	k.log.Info("starting pod", "pod", key, "node", node.Name, "ip", ip)
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		defer close(run.done)
		w.run(wctx)
	}()
}

// stop ends a pod's worker, waits for it and frees the pod's IP.
func (k *kubelet) stop(key string) {
	run := k.active[key]
	if run == nil {
		return
	}
	run.cancel()
	<-run.done
	delete(k.active, key)
	k.ipam[run.node].release(key, run.uid)
}

// podIPs hands out the addresses of one node's pod range.
type podIPs struct {
	prefix netip.Prefix
	mu     sync.Mutex
	byKey  map[string]podIPLease
	used   map[netip.Addr]bool
}

type podIPLease struct {
	uid types.UID
	ip  netip.Addr
}

func newPodIPs(prefix netip.Prefix) *podIPs {
	return &podIPs{prefix: prefix, byKey: map[string]podIPLease{}, used: map[netip.Addr]bool{}}
}

// reserve records an address a pod already has, if it is in the range and
// free.
func (p *podIPs) reserve(key string, uid types.UID, ip netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.prefix.Contains(ip) || p.used[ip] {
		return
	}
	p.byKey[key] = podIPLease{uid, ip}
	p.used[ip] = true
}

// allocate returns the pod's reserved address, or the lowest free one.
func (p *podIPs) allocate(key string, uid types.UID) (netip.Addr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l, ok := p.byKey[key]; ok {
		if l.uid == uid {
			return l.ip, true
		}
		delete(p.used, l.ip)
		delete(p.byKey, key)
	}
	ip, ok := allocateIP(p.prefix, p.used)
	if !ok {
		return ip, false
	}
	p.byKey[key] = podIPLease{uid, ip}
	p.used[ip] = true
	return ip, true
}

// release frees the pod's address; with a uid, only that pod's.
func (p *podIPs) release(key string, uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.byKey[key]
	if !ok || (uid != "" && l.uid != uid) {
		return
	}
	delete(p.used, l.ip)
	delete(p.byKey, key)
}

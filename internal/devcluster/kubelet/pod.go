package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
)

// resyncInterval is how often a pod worker rewrites a status that failed to
// write or was changed by someone else.
const resyncInterval = 10 * time.Second

type probeKind string

const (
	probeStartup   probeKind = "startup"
	probeReadiness probeKind = "readiness"
	probeLiveness  probeKind = "liveness"
)

var probeTitle = map[probeKind]string{probeStartup: "Startup", probeReadiness: "Readiness", probeLiveness: "Liveness"}

// probeEvent is a probe's state change, for the container at index
// container, from the probe generation gen (a restart starts a new one).
type probeEvent struct {
	gen       int
	container int
	kind      probeKind
	ok        bool
}

// podWorker runs one pod on one node: its listeners, its probes, its status
// and its termination. It owns every goroutine it starts.
type podWorker struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	log      *slog.Logger
	node     NodeSpec
	uid      types.UID
	ip       netip.Addr

	mu      sync.Mutex
	latest  *corev1.Pod
	updated chan struct{}

	events chan probeEvent
}

func newPodWorker(client kubernetes.Interface, events record.EventRecorder, log *slog.Logger, node NodeSpec, pod *corev1.Pod, ip netip.Addr) *podWorker {
	return &podWorker{
		client:   client,
		recorder: events,
		log:      log.With("pod", pod.Namespace+"/"+pod.Name, "podIP", ip),
		node:     node,
		uid:      pod.UID,
		ip:       ip,
		latest:   pod,
		updated:  make(chan struct{}, 1),
		events:   make(chan probeEvent),
	}
}

// update hands the worker the newest version of its pod.
func (w *podWorker) update(pod *corev1.Pod) {
	w.mu.Lock()
	w.latest = pod
	w.mu.Unlock()
	select {
	case w.updated <- struct{}{}:
	default:
	}
}

func (w *podWorker) pod() *corev1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.latest
}

// run serves the pod until its termination completes (the pod object is then
// deleted) or ctx ends (the pod vanished, or kelb nodes stops: listeners close
// at once and the object is left as it is).
func (w *podWorker) run(ctx context.Context) {
	pod := w.pod()
	in := statusInput{PodIP: w.ip, HostIP: w.node.IP, StartTime: metav1.Now()}
	if pod.Status.StartTime != nil {
		in.StartTime = *pod.Status.StartTime
	}
	for _, c := range pod.Spec.Containers {
		cs := containerState{Name: c.Name, Image: c.Image, StartedAt: metav1.Now()}
		for _, old := range pod.Status.ContainerStatuses {
			if old.Name == c.Name {
				cs.RestartCount = old.RestartCount
				if old.State.Running != nil && pod.DeletionTimestamp == nil {
					// kelb nodes restarted: carry on from the written state
					// (the probes correct it) rather than flap to not ready.
					cs.StartedAt = old.State.Running.StartedAt
					cs.Ready = old.Ready
					cs.Started = old.Started != nil && *old.Started
				}
			}
		}
		in.Containers = append(in.Containers, cs)
	}

	info := podInfo{Name: pod.Name, Namespace: pod.Namespace, Node: w.node.Name, IP: w.ip, HostIP: w.node.IP}
	endpoints, ok := w.waitEndpoints(ctx, info)
	if !ok {
		return
	}
	pod = w.pod()
	server := newPodServer(info, endpoints, w.log)
	fail := pod.Annotations[FailAnnotation]
	server.fail.Store(fail)
	serving := false
	startServer := func() {
		if err := server.start(); err != nil {
			w.log.Error("start pod listeners", "err", err)
			return
		}
		serving = true
	}
	startServer()
	if pod.Status.StartTime == nil {
		for _, c := range pod.Spec.Containers {
			w.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
			w.recorder.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container: %s", c.Name)
			w.recorder.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
		}
	}

	var probes sync.WaitGroup
	gen := 0
	stopProbes := func() {}
	startProbes := func() {
		gen++
		var probeCtx context.Context
		probeCtx, stopProbes = context.WithCancel(ctx)
		p := w.pod()
		for i := range p.Spec.Containers {
			c := p.Spec.Containers[i]
			probes.Add(1)
			go func() {
				defer probes.Done()
				w.runContainerProbes(probeCtx, gen, i, &c)
			}()
		}
	}
	startProbes()
	defer func() {
		stopProbes()
		probes.Wait()
	}()

	var (
		terminating bool
		termDone    = make(chan error, 1)
		termWG      sync.WaitGroup
	)
	defer termWG.Wait()
	// ctx is done by then, unless termination already shut the server down.
	defer func() { server.shutdown(ctx) }()

	resync := time.NewTicker(resyncInterval)
	defer resync.Stop()
	for {
		pod := w.pod()
		if !serving && !terminating {
			startServer()
		}
		if pod.DeletionTimestamp != nil && !terminating {
			terminating = true
			w.log.Info("terminating pod", "deadline", pod.DeletionTimestamp.Time)
			for _, c := range pod.Spec.Containers {
				w.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", c.Name)
			}
			termWG.Add(1)
			go func() {
				defer termWG.Done()
				termDone <- w.terminate(ctx, pod, server, &in)
			}()
		}
		if f := pod.Annotations[FailAnnotation]; f != fail && !terminating {
			fail = f
			w.log.Info("fail mode changed", "mode", fail)
			if err := server.setFail(fail); err != nil {
				w.log.Error("reopen pod listeners", "err", err)
			}
		}
		in.Terminating = terminating
		w.syncStatus(ctx, pod, in)

		select {
		case <-ctx.Done():
			return
		case <-w.updated:
		case <-resync.C:
		case ev := <-w.events:
			if ev.gen != gen {
				continue
			}
			c := &in.Containers[ev.container]
			switch ev.kind {
			case probeStartup:
				c.Started = ev.ok
			case probeReadiness:
				c.Ready = ev.ok
			case probeLiveness:
				if ev.ok || terminating {
					continue
				}
				w.log.Info("liveness probe failed, restarting container", "container", c.Name)
				w.recorder.Eventf(w.pod(), corev1.EventTypeNormal, "Killing", "Container %s failed liveness probe, will be restarted", c.Name)
				stopProbes()
				probes.Wait()
				now := metav1.Now()
				c.LastTermination = &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "Error", StartedAt: c.StartedAt, FinishedAt: now, ContainerID: containerID(w.uid, c.Name, c.RestartCount)}
				c.RestartCount++
				c.StartedAt, c.Started, c.Ready = now, false, false
				sctx, cancel := context.WithCancel(ctx)
				cancel()
				server.shutdown(sctx)
				server = newPodServer(info, endpoints, w.log)
				server.fail.Store(fail)
				serving = false
				startServer()
				startProbes()
			}
		case err := <-termDone:
			if err != nil {
				w.log.Error("terminate pod", "err", err)
			}
			w.deletePod(ctx, pod)
			<-ctx.Done()
			return
		}
	}
}

// waitEndpoints resolves what the pod's containers listen on, as the
// kubelet mounts volumes and fills the environment before it starts them:
// while a Secret or ConfigMap they need is missing, or an image's
// configuration is invalid, the pod stays Pending (a Warning event says
// why) and the worker retries at every update and resync. A pod deleted
// meanwhile goes on to its termination with nothing to serve. ok is false
// when ctx ends first.
func (w *podWorker) waitEndpoints(ctx context.Context, info podInfo) (eps []endpoint, ok bool) {
	resync := time.NewTicker(resyncInterval)
	defer resync.Stop()
	lastErr := ""
	for {
		pod := w.pod()
		if pod.DeletionTimestamp != nil {
			return nil, true
		}
		cs, err := podContainers(ctx, pod, info, apiObjects{w.client})
		if err == nil {
			eps, err = containerEndpoints(cs)
		}
		if err == nil {
			return eps, true
		}
		if ctx.Err() != nil {
			return nil, false
		}
		if msg := err.Error(); msg != lastErr {
			lastErr = msg
			w.log.Info("pod cannot start yet", "err", err)
			w.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodContainer", "cannot start the pod's containers: %v", err)
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-w.updated:
		case <-resync.C:
		}
	}
}

// syncStatus writes the pod's status when the kubelet's view of it differs
// from what the API holds.
func (w *podWorker) syncStatus(ctx context.Context, pod *corev1.Pod, in statusInput) {
	want := desiredStatus(pod, in, metav1.Now())
	if !statusDiffers(&pod.Status, &want) {
		return
	}
	body, err := json.Marshal(statusPatch(&want))
	if err != nil {
		w.log.Error("encode pod status", "err", err)
		return
	}
	updated, err := w.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}, "status")
	if err != nil {
		if ctx.Err() == nil && !apierrors.IsNotFound(err) {
			w.log.Error("write pod status", "err", err)
		}
		return
	}
	// Until the informer catches up, compare against what was written.
	w.mu.Lock()
	if w.latest == pod {
		w.latest = updated
	}
	w.mu.Unlock()
}

// terminate runs the pod's shutdown as the kubelet does: preStop hooks, then
// no new connections, then open connections may finish until the grace period
// (the pod's deletionTimestamp) ends.
func (w *podWorker) terminate(ctx context.Context, pod *corev1.Pod, server *podServer, in *statusInput) error {
	deadline := pod.DeletionTimestamp.Time
	if d := time.Now().Add(time.Second); deadline.Before(d) {
		deadline = d
	}
	tctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var wg sync.WaitGroup
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.runPreStop(tctx, c); err != nil {
				w.log.Info("preStop hook", "container", c.Name, "err", err)
			}
		}()
	}
	wg.Wait()
	server.shutdown(tctx)
	return ctx.Err()
}

// sleepCommand finds "sleep N" in an exec hook's command line.
var sleepCommand = regexp.MustCompile(`(?:^|[\s;&|/])sleep\s+([0-9]+(?:\.[0-9]+)?)`)

// preStopSleep returns how long a preStop hook makes the container wait: a
// sleep action, or an exec hook that runs sleep N. httpGet hooks are sent, not
// waited for beyond their answer.
func preStopSleep(h *corev1.LifecycleHandler) time.Duration {
	switch {
	case h.Sleep != nil:
		return time.Duration(h.Sleep.Seconds) * time.Second
	case h.Exec != nil:
		m := sleepCommand.FindStringSubmatch(strings.Join(h.Exec.Command, " "))
		if m == nil {
			return 0
		}
		secs, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	return 0
}

func (w *podWorker) runPreStop(ctx context.Context, c *corev1.Container) error {
	h := c.Lifecycle.PreStop
	if h.HTTPGet != nil {
		p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: h.HTTPGet}, TimeoutSeconds: 30}
		return probeOnce(ctx, p, c, w.ip)
	}
	d := preStopSleep(h)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("grace period ended during preStop sleep: %w", ctx.Err())
	}
}

// deletePod removes the terminated pod from the API, with grace period 0 as
// the kubelet does once the containers are gone.
func (w *podWorker) deletePod(ctx context.Context, pod *corev1.Pod) {
	zero := int64(0)
	err := w.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      &metav1.Preconditions{UID: &w.uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
		w.log.Error("delete terminated pod", "err", err)
	}
}

// runContainerProbes runs a container's probes: the startup probe until it
// succeeds, then readiness and liveness side by side. Without a readiness
// probe the container is ready once started.
func (w *podWorker) runContainerProbes(ctx context.Context, gen, idx int, c *corev1.Container) {
	send := func(kind probeKind, ok bool) bool {
		select {
		case w.events <- probeEvent{gen: gen, container: idx, kind: kind, ok: ok}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if c.StartupProbe != nil {
		if !w.probeLoop(ctx, c, c.StartupProbe, probeStartup, send) {
			return
		}
	}
	if !send(probeStartup, true) {
		return
	}
	if c.ReadinessProbe == nil {
		send(probeReadiness, true)
	}
	var wg sync.WaitGroup
	for kind, p := range map[probeKind]*corev1.Probe{probeReadiness: c.ReadinessProbe, probeLiveness: c.LivenessProbe} {
		if p == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.probeLoop(ctx, c, p, kind, send)
		}()
	}
	wg.Wait()
}

// probeLoop probes every period after the initial delay and sends each state
// change. A startup probe returns true on its first success and reports a
// liveness failure (a restart) after failureThreshold failures; a liveness
// probe returns after reporting a failure.
func (w *podWorker) probeLoop(ctx context.Context, c *corev1.Container, p *corev1.Probe, kind probeKind, send func(probeKind, bool) bool) bool {
	initial, period, _ := probeTiming(p)
	tr := newProbeTracker(p, kind == probeLiveness)
	if initial > 0 {
		t := time.NewTimer(initial)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	first := true
	for {
		err := probeOnce(ctx, p, c, w.ip)
		if ctx.Err() != nil {
			return false
		}
		ok, changed := tr.observe(err == nil)
		if err != nil {
			w.log.Debug("probe failed", "container", c.Name, "probe", kind, "err", err)
			w.recorder.Eventf(w.pod(), corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %v", probeTitle[kind], err)
		}
		switch kind {
		case probeStartup:
			if ok {
				return true
			}
			if tr.failures >= tr.failureThreshold {
				send(probeLiveness, false)
				return false
			}
		case probeLiveness:
			if changed && !ok {
				send(probeLiveness, false)
				return false
			}
		case probeReadiness:
			// The first result is always sent: the container may carry a
			// readiness from before kelb nodes restarted.
			if (changed || first) && !send(kind, ok) {
				return false
			}
			first = false
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return false
		}
	}
}

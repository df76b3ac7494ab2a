package kubelet

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// container is what a container's process sees: the pod it runs in, its
// image, its environment and the files of its mounted volumes.
type container struct {
	Pod   podInfo
	Name  string
	Image string
	// Env is the container's environment, as its process reads it.
	Env map[string]string
	// Files are the files of the container's Secret and ConfigMap volumes,
	// by absolute path.
	Files map[string][]byte
	// Ports are the container's declared ports and the ports its probes
	// use.
	Ports []portSpec
}

// behaviour turns a container into the endpoints its image opens; an error
// means the container cannot start (its process would exit).
type behaviour func(c container) ([]endpoint, error)

// images maps an image repository (the reference without its tag and
// digest) to how a container running it answers. An image not
// listed answers like the echoserver. To simulate another image a standard
// suite uses, add its repository here with a behaviour reading the same
// environment variables and files as the real image.
var images = map[string]behaviour{
	"registry.k8s.io/echoserver":                echoserver,
	"k8s.gcr.io/echoserver":                     echoserver,
	"gcr.io/google_containers/echoserver":       echoserver,
	"registry.k8s.io/gateway-api/echo-basic":    echoBasic,
	"gcr.io/k8s-staging-gateway-api/echo-basic": echoBasic,
}

// behaviourOf returns the behaviour of image.
func behaviourOf(image string) behaviour {
	if b, ok := images[imageRepository(image)]; ok {
		return b
	}
	return echoserver
}

// imageRepository cuts the tag and digest off an image reference:
// registry.k8s.io/gateway-api/echo-basic:v1.5.1 ->
// registry.k8s.io/gateway-api/echo-basic. A registry's port stays.
func imageRepository(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		image = image[:i]
	}
	return image
}

// echoserver answers on every declared port and probe port: HTTP requests
// like the echoserver image, other TCP streams and UDP datagrams echoed.
func echoserver(c container) ([]endpoint, error) {
	eps := make([]endpoint, 0, len(c.Ports))
	h := echoserverHandler(c.Pod)
	for _, p := range c.Ports {
		if p.Protocol == corev1.ProtocolUDP {
			eps = append(eps, endpoint{Port: p.Port, Protocol: corev1.ProtocolUDP, Datagram: echoDatagram})
			continue
		}
		eps = append(eps, endpoint{Port: p.Port, Protocol: corev1.ProtocolTCP, Kind: kindEchoserver, HTTP: h})
	}
	return eps, nil
}

// containerEndpoints returns the endpoints of every container, the first
// container's winning when two listen on one port and protocol.
func containerEndpoints(cs []container) ([]endpoint, error) {
	var all []endpoint
	seen := map[portSpec]bool{}
	for _, c := range cs {
		eps, err := behaviourOf(c.Image)(c)
		if err != nil {
			return nil, fmt.Errorf("container %s (%s): %w", c.Name, c.Image, err)
		}
		for _, ep := range eps {
			if ep.Protocol == "" {
				ep.Protocol = corev1.ProtocolTCP
			}
			ps := portSpec{ep.Port, ep.Protocol}
			if seen[ps] {
				continue
			}
			seen[ps] = true
			all = append(all, ep)
		}
	}
	return all, nil
}

package kubelet

import (
	"context"
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// objectSource reads the Secrets and ConfigMaps a container's environment
// and volumes refer to. A missing object is an error for which
// apierrors.IsNotFound holds.
type objectSource interface {
	secret(ctx context.Context, namespace, name string) (map[string][]byte, error)
	configMap(ctx context.Context, namespace, name string) (map[string][]byte, error)
}

// apiObjects reads them from the apiserver.
type apiObjects struct{ client kubernetes.Interface }

func (a apiObjects) secret(ctx context.Context, ns, name string) (map[string][]byte, error) {
	s, err := a.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	data := map[string][]byte{}
	for k, v := range s.Data {
		data[k] = v
	}
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return data, nil
}

func (a apiObjects) configMap(ctx context.Context, ns, name string) (map[string][]byte, error) {
	cm, err := a.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return data, nil
}

// podContainers resolves what each container of pod sees, as the kubelet
// does before starting it: environment (value, fieldRef, secretKeyRef,
// configMapKeyRef, envFrom; $(VAR) references to earlier variables) and
// the files of mounted Secret and ConfigMap volumes. A missing object that
// is not optional is an error: the container cannot start yet.
func podContainers(ctx context.Context, pod *corev1.Pod, info podInfo, src objectSource) ([]container, error) {
	volumes := map[string]map[string][]byte{} // volume name -> file (relative path) -> content
	for _, v := range pod.Spec.Volumes {
		files, err := volumeFiles(ctx, pod.Namespace, v, src)
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		if files != nil {
			volumes[v.Name] = files
		}
	}
	var out []container
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		env, err := containerEnv(ctx, pod, c, info, src)
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", c.Name, err)
		}
		out = append(out, container{
			Pod:   info,
			Name:  c.Name,
			Image: c.Image,
			Env:   env,
			Files: mountedFiles(c, volumes),
			Ports: containerPorts(c),
		})
	}
	return out, nil
}

// volumeFiles returns the files of a Secret or ConfigMap volume by their
// path inside it, or nil for any other kind of volume.
func volumeFiles(ctx context.Context, ns string, v corev1.Volume, src objectSource) (map[string][]byte, error) {
	var (
		data     map[string][]byte
		err      error
		items    []corev1.KeyToPath
		optional bool
	)
	switch {
	case v.Secret != nil:
		items, optional = v.Secret.Items, v.Secret.Optional != nil && *v.Secret.Optional
		data, err = src.secret(ctx, ns, v.Secret.SecretName)
		if err != nil && !(optional && apierrors.IsNotFound(err)) {
			return nil, fmt.Errorf("secret %q: %w", v.Secret.SecretName, err)
		}
	case v.ConfigMap != nil:
		items, optional = v.ConfigMap.Items, v.ConfigMap.Optional != nil && *v.ConfigMap.Optional
		data, err = src.configMap(ctx, ns, v.ConfigMap.Name)
		if err != nil && !(optional && apierrors.IsNotFound(err)) {
			return nil, fmt.Errorf("configmap %q: %w", v.ConfigMap.Name, err)
		}
	default:
		return nil, nil
	}
	files := map[string][]byte{}
	if len(items) == 0 {
		for k, b := range data {
			files[k] = b
		}
		return files, nil
	}
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("key %q not found", it.Key)
		}
		files[it.Path] = b
	}
	return files, nil
}

// mountedFiles places the files of the container's mounted volumes at
// their absolute paths (a subPath mount places one file, or one directory
// of the volume, at the mount path).
func mountedFiles(c *corev1.Container, volumes map[string]map[string][]byte) map[string][]byte {
	files := map[string][]byte{}
	for _, m := range c.VolumeMounts {
		vf, ok := volumes[m.Name]
		if !ok {
			continue
		}
		for p, b := range vf {
			rel := p
			if m.SubPath != "" {
				if p != m.SubPath && !strings.HasPrefix(p, m.SubPath+"/") {
					continue
				}
				rel = strings.TrimPrefix(strings.TrimPrefix(p, m.SubPath), "/")
			}
			files[path.Join(m.MountPath, rel)] = b
		}
	}
	return files
}

// containerEnv computes a container's environment.
func containerEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, info podInfo, src objectSource) (map[string]string, error) {
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		var (
			data     map[string][]byte
			err      error
			optional bool
			what     string
		)
		switch {
		case from.SecretRef != nil:
			optional, what = from.SecretRef.Optional != nil && *from.SecretRef.Optional, "secret "+from.SecretRef.Name
			data, err = src.secret(ctx, pod.Namespace, from.SecretRef.Name)
		case from.ConfigMapRef != nil:
			optional, what = from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional, "configmap "+from.ConfigMapRef.Name
			data, err = src.configMap(ctx, pod.Namespace, from.ConfigMapRef.Name)
		default:
			continue
		}
		if err != nil {
			if optional && apierrors.IsNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("envFrom %s: %w", what, err)
		}
		for k, v := range data {
			env[from.Prefix+k] = string(v)
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = expandEnv(e.Value, env)
			continue
		}
		v, ok, err := envValueFrom(ctx, pod, info, e.ValueFrom, src)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			env[e.Name] = v
		}
	}
	return env, nil
}

// envValueFrom resolves one valueFrom; ok is false for an optional key
// that is missing (the variable is then not set).
func envValueFrom(ctx context.Context, pod *corev1.Pod, info podInfo, from *corev1.EnvVarSource, src objectSource) (v string, ok bool, err error) {
	switch {
	case from.FieldRef != nil:
		v, err := podField(pod, info, from.FieldRef.FieldPath)
		return v, err == nil, err
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		data, err := src.secret(ctx, pod.Namespace, ref.Name)
		return keyOf(data, err, ref.Key, ref.Optional, "secret "+ref.Name)
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		data, err := src.configMap(ctx, pod.Namespace, ref.Name)
		return keyOf(data, err, ref.Key, ref.Optional, "configmap "+ref.Name)
	case from.ResourceFieldRef != nil:
		// Simulated containers have no limits: the node's capacity
		// stands in, as for a container without limits.
		return "0", true, nil
	}
	return "", false, nil
}

func keyOf(data map[string][]byte, err error, key string, optional *bool, what string) (string, bool, error) {
	opt := optional != nil && *optional
	if err != nil {
		if opt && apierrors.IsNotFound(err) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("%s: %w", what, err)
	}
	b, found := data[key]
	if !found {
		if opt {
			return "", false, nil
		}
		return "", false, fmt.Errorf("%s has no key %q", what, key)
	}
	return string(b), true, nil
}

// podField returns the value of a downward API field path.
func podField(pod *corev1.Pod, info podInfo, fieldPath string) (string, error) {
	switch fieldPath {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return info.IP.String(), nil
	case "status.hostIP", "status.hostIPs":
		return info.HostIP.String(), nil
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels": pod.Labels, "metadata.annotations": pod.Annotations} {
		if rest, ok := strings.CutPrefix(fieldPath, prefix+"['"); ok && strings.HasSuffix(rest, "']") {
			return m[strings.TrimSuffix(rest, "']")], nil
		}
	}
	return "", fmt.Errorf("field path %q is not supported", fieldPath)
}

// expandEnv replaces $(NAME) with the value of an earlier variable, as the
// kubelet does; $$ is a literal $, and an unknown reference stays as it is.
func expandEnv(s string, env map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '(':
			if end := strings.IndexByte(s[i+2:], ')'); end >= 0 {
				name := s[i+2 : i+2+end]
				if v, ok := env[name]; ok {
					b.WriteString(v)
					i += 2 + end
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

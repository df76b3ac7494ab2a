package kubelet

import (
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"
)

// echoserverHandler answers like the echoserver image, after the delay the
// request asks for (query parameter delay or header X-Kelb-Delay).
func echoserverHandler(info podInfo) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, ok := requestDelay(r); ok {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, echoBody(info, r, body))
	})
}

// echoBody renders the answer of the echo server, in the layout of the
// echoserver image the Kubernetes and AWS walkthroughs use, so that
// `curl ... | grep -E 'Hostname|client_address'` works as they show.
func echoBody(info podInfo, r *http.Request, body []byte) string {
	var b strings.Builder
	client := r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		client = host
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	port := ""
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, p, err := net.SplitHostPort(la.String()); err == nil {
			port = p
		}
	}
	version := strings.TrimPrefix(r.Proto, "HTTP/")

	b.WriteString("\n\nHostname: " + info.Name + "\n\n")
	b.WriteString("Pod Information:\n")
	b.WriteString("\tnode name:\t" + info.Node + "\n")
	b.WriteString("\tpod name:\t" + info.Name + "\n")
	b.WriteString("\tpod namespace:\t" + info.Namespace + "\n")
	b.WriteString("\tpod IP:\t" + info.IP.String() + "\n\n")
	b.WriteString("Server values:\n")
	b.WriteString("\tserver_version=kelb\n\n")
	b.WriteString("Request Information:\n")
	b.WriteString("\tclient_address=" + client + "\n")
	b.WriteString("\tmethod=" + r.Method + "\n")
	b.WriteString("\treal path=" + r.URL.Path + "\n")
	b.WriteString("\tquery=" + r.URL.RawQuery + "\n")
	b.WriteString("\trequest_version=" + version + "\n")
	b.WriteString("\trequest_scheme=http\n")
	b.WriteString("\trequest_uri=http://" + host + ":" + port + r.RequestURI + "\n\n")
	b.WriteString("Request Headers:\n")
	headers := make([]string, 0, len(r.Header)+1)
	headers = append(headers, "host="+r.Host)
	for k, vs := range r.Header {
		headers = append(headers, strings.ToLower(k)+"="+strings.Join(vs, ", "))
	}
	sort.Strings(headers)
	for _, h := range headers {
		b.WriteString("\t" + h + "\n")
	}
	b.WriteString("\nRequest Body:\n")
	if len(body) == 0 {
		b.WriteString("\t-no body in request-\n")
	} else {
		b.WriteString(string(body) + "\n")
	}
	b.WriteString("\n\n")
	return b.String()
}

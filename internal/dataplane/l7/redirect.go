package l7

import (
	"net"
	"net/http"
	"strings"

	"github.com/kelb-io/kelb/internal/elb"
)

type redirectConfig = elb.RedirectConfig

// redirectURL builds the Location of a redirect action for r, arriving on a
// listener of protocol and port. Each component of the configuration may
// use the placeholders #{protocol}, #{host}, #{port}, #{path} (the path
// without its leading slash) and #{query}, and defaults to the request's
// own value. The port is always written, the protocol's default too
// (https://host:443/path), as ALB writes it; the query is left out when it
// is empty.
func redirectURL(c redirectConfig, r *http.Request, protocol, port string) string {
	host := hostOnly(r.Host)
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	path := strings.TrimPrefix(r.URL.EscapedPath(), "/")
	replace := strings.NewReplacer(
		"#{protocol}", strings.ToLower(protocol),
		"#{host}", host,
		"#{port}", port,
		"#{path}", path,
		"#{query}", r.URL.RawQuery,
	)
	expand := func(v, def string) string {
		if v == "" {
			v = def
		}
		return replace.Replace(v)
	}
	scheme := strings.ToLower(expand(c.Protocol, "#{protocol}"))
	h := expand(c.Host, "#{host}")
	p := expand(c.Port, "#{port}")
	pth := expand(c.Path, "/#{path}")
	if !strings.HasPrefix(pth, "/") {
		pth = "/" + pth
	}
	q := expand(c.Query, "#{query}")
	var b strings.Builder
	b.WriteString(scheme)
	b.WriteString("://")
	if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
		h = "[" + h + "]"
	}
	b.WriteString(h)
	if p != "" {
		b.WriteString(":")
		b.WriteString(p)
	}
	b.WriteString(pth)
	if q != "" {
		b.WriteString("?")
		b.WriteString(q)
	}
	return b.String()
}

// Package l7 is kelb's L7 data plane: it runs every HTTP and HTTPS listener
// of every application load balancer as a reverse proxy with ALB's listener
// rules, actions, stickiness and error codes.
//
// Build turns the store's state and the health view into a Config: one
// Listener per listener port × load balancer zone address (cross-zone load
// balancing is always on for ALB), with its rules in priority order, and one
// TargetGroup per forwarded-to group with the targets new requests may go
// to: the healthy ones, else (fail open, as ALB) every registered target
// that is not draining. Plane.Apply makes a Config run: it binds new
// sockets (IP_FREEBIND), closes removed ones, and swaps each listener's
// compiled routing table and TLS configuration with one atomic pointer
// store, so requests never wait on Apply and those in flight finish on the
// target they started with (draining targets get no new requests).
//
// A rule's or listener's authenticate action (package albauth) runs
// before its terminal action, on the net/http path (the fast path hands
// such requests over): authenticate-oidc and authenticate-cognito answer
// a browser without a session (a redirect to the identity provider, 401)
// or add the x-amzn-oidc-* headers, and every listener with one answers
// /oauth2/idpresponse itself; jwt-validation answers 401 to a request
// without a valid bearer token. A listener whose authenticate action
// cannot be compiled (no keys) fails to apply, as one without
// certificates does.
//
// A request is matched against the listener's rules (conditions AND'ed,
// values OR'ed, wildcards and case rules as ALB documents them; regex
// values, compiled with RE2 when the table is built, match the host
// without its port, the path without the query, or each header value; the
// matcher does not allocate). The matching rule's transforms then rewrite
// the request (transform.go): the host header rewrite runs its pattern on
// the host name (the port is kept), the URL rewrite on the path as the
// client sent it, replacing every match, with $1-style captures; a "?" in
// the result sets the query, the client's own query appended after "&".
// A pattern that does not match leaves the request as it was; a result
// that is not a valid host or an absolute path answers 500, as ALB does.
// kelb's own request header transforms (kelb:request-header-set, -add,
// -remove; no ALB has them) then set, add and remove headers, on the
// net/http path.
// The target, and a redirect's #{host}, #{path} and #{query}, see the
// rewritten request. Then its action runs: a fixed response, a
// redirect with #{protocol}, #{host}, #{port}, #{path} and #{query}
// placeholders (the Location always carries the port, https://host:443/,
// as ALB's does), or a forward to one of weighted target groups (sticky with
// the AWSALBTG cookie when group stickiness is on). Within the group the
// target is the one named by the AWSALB (lb_cookie) or AWSALBAPP-0
// (app_cookie) stickiness cookie when it is still routable, else the next by
// round robin or the least outstanding requests; a target in slow start is
// skipped with the probability of its remaining ramp, so its share grows
// linearly.
//
// Requests take one of two paths. The fast path (fastpath.go) serves
// HTTP/1.1 itself: a goroutine per client connection parses request heads
// in the connection's buffer, writes each request to a target over a
// per-target pool of keep-alive connections in one write, and relays the
// response as the target framed it, with about one allocation per request
// and no goroutine or channel hand-over inside it. Everything else is
// handed, with the connection, to net/http and httputil.ReverseProxy at a
// request boundary: h2 and h2c clients, upgrades (WebSocket), HTTP/1.0,
// Expect and chunked request bodies, heads over 8 KiB or that do not
// parse, and requests routed to HTTP2 or
// GRPC target groups, which one http.Transport per group carries over
// HTTP/2 (h2, or h2c for HTTP targets). Clients get HTTP/1.1 with
// keep-alive, and HTTP/2 (h2 through ALPN on HTTPS, h2c with prior
// knowledge on HTTP) when routing.http2.enabled. HTTPS listeners choose their certificate by SNI among the listener's
// certificates, the default one when none matches, with the TLS versions
// and cipher suites of the listener's security policy. With mutual TLS
// (mtls.go) a verify listener refuses the handshake of a client whose
// certificate does not chain to the trust store, is revoked or expired
// (package mtls decides), and every request of an accepted connection
// carries the X-Amzn-Mtls-* headers of its certificate; client-sent ones
// are dropped on both paths.
//
// Header modification (headers.go): a listener's
// routing.http.response.*.header_value attributes set their header on every
// response, kelb's own included, replacing a target's; with
// routing.http.response.server.enabled false kelb's own answers carry no
// Server header (a target's is passed on). On HTTPS listeners of a load
// balancer with routing.http.x_amzn_tls_version_and_cipher_suite.enabled
// the target gets the connection's TLS version ("TLSv1.3") and cipher
// suite (its OpenSSL name) under the names the listener's
// routing.http.request.x_amzn_tls_*.header_name attributes give; a
// client's own headers of those names are dropped.
//
// Failure behaviour, as ALB answers, with one difference: a target whose
// connection is refused, reset or unroutable has seen nothing of the
// request, which goes to another target of the group (not the sticky one
// when that is the one refusing), up to three targets in all, counted in
// kelb_alb_target_connection_retries_total. A pod that stops accepting at
// SIGTERM, a moment before its target is deregistered, so costs no request
// and needs no preStop sleep, where ALB answers 502. The fast path does
// this when connecting to the target fails; the net/http path, through a
// RoundTripper around the group's http.Transport, when the request's body
// has not been read or was read whole within 16 KiB. A connect that times
// out is not retried. Otherwise: no target to route to, 503; every tried
// target refusing, or a target that closes or resets the connection after
// the request was sent and before answering (it may have acted on it),
// 502; a target
// that sends no response headers within the load balancer's idle timeout
// (or cannot be connected within DialTimeout), 504; a client that goes away
// before the answer, 460 (counted, nothing sent); a malformed request, or
// one whose request line or a header line is over 16 KiB or whose head is
// over 64 KiB (ALB's limits), 400 with ALB's page before any rule runs, and
// the connection closes (limits.go). On the fast path a client that goes
// away while the target works on its request is noticed when the answer is
// written, so the target finishes the request (as HAProxy does without
// abortonclose) and the answer counts as the target's; a client that goes
// away while its request body streams gets 460. A pooled target connection
// that turns out closed when reused is replaced and the request sent again
// when it was sent whole in one write (no body streamed), else 502; when
// the new connection to that target is refused, the request moves to
// another target as above. Every
// answer is counted in kelb_alb_requests_total by class and origin (elb or
// target). A listener that cannot be bound or whose certificates cannot be
// loaded is reported by Apply while the rest of the Config applies.
//
// Deadlines and caps: a client connection waiting for a request closes
// after the idle timeout (idle_timeout.timeout_seconds); a request head
// must arrive whole within the idle timeout of its first byte, however
// slowly its bytes come; a request body or an answer that makes no
// progress for the idle timeout closes the connection; an upgraded
// connection (WebSocket) that carries no byte in either direction for the
// idle timeout is closed, with its target connection. Each listener holds
// at most Options.MaxConns client connections: at the cap a new one takes
// the place of the connection idle longest (one waiting for a request or
// the rest of its head), counted in kelb_alb_evicted_connections_total,
// else it waits in the accept queue.
package l7

package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
)

// userAgent is the User-Agent ELB health checks send; some applications
// recognise it to skip logging.
const userAgent = "ELB-HealthChecker/2.0"

// probe checks a target once, within spec.timeout. It returns when the
// check is done, the timeout expires or ctx ends.
func probe(ctx context.Context, spec probeSpec) result {
	ctx, cancel := context.WithTimeout(ctx, spec.timeout)
	defer cancel()
	switch spec.protocol {
	case "HTTP", "HTTPS":
		return probeHTTP(ctx, spec)
	default:
		return probeTCP(ctx, spec.address)
	}
}

// probeTCP succeeds when a TCP connection to address is established.
func probeTCP(ctx context.Context, address string) result {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return failure(fmt.Errorf("connect to %s: %w", address, err))
	}
	conn.Close()
	return result{outcome: outcomeSuccess}
}

// probeHTTP sends GET spec.path to the target, on a connection of its own,
// and matches the response code. Redirects are not followed: a 301 is a 301.
func probeHTTP(ctx context.Context, spec probeSpec) result {
	m, err := parseMatcher(spec.matcher)
	if err != nil {
		return failure(err)
	}
	scheme := "http"
	if spec.protocol == "HTTPS" {
		scheme = "https"
	}
	url := scheme + "://" + spec.address + spec.path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return failure(fmt.Errorf("health check request %s: %w", url, err))
	}
	req.Host = spec.address
	req.Header.Set("User-Agent", userAgent)
	req.Close = true

	transport := &http.Transport{
		DisableKeepAlives: true,
		// ELB does not verify target certificates.
		TLSClientConfig:    &tls.Config{InsecureSkipVerify: true},
		DisableCompression: true,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return failure(fmt.Errorf("GET %s: %w", url, err))
	}
	// Only the status line matters; closing the body closes the connection.
	resp.Body.Close()
	if !m.matches(resp.StatusCode) {
		return result{outcome: outcomeCodeMismatch, code: resp.StatusCode,
			err: fmt.Errorf("GET %s: status %d does not match %q", url, resp.StatusCode, spec.matcher)}
	}
	return result{outcome: outcomeSuccess, code: resp.StatusCode}
}

// failure classifies a probe error: timeouts apart from every other failure.
func failure(err error) result {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return result{outcome: outcomeTimeout, err: err}
	}
	return result{outcome: outcomeFailed, err: err}
}

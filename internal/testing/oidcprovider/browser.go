package oidcprovider

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

var hiddenID = regexp.MustCompile(`name="id" value="([^"]*)"`)

// LoginForm reports whether resp (read whole into body) is the provider's
// login page.
func (p *Provider) LoginForm(resp *http.Response, body string) bool {
	return resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Request.URL.String(), p.Issuer+"/login") && hiddenID.MatchString(body)
}

// SubmitLogin posts the login form found in body with username and
// password, as a browser does, with client (which should follow redirects
// and keep cookies): the provider redirects back to the relying party,
// and the response at the end of the redirects is returned.
func (p *Provider) SubmitLogin(client *http.Client, body, username, password string) (*http.Response, error) {
	m := hiddenID.FindStringSubmatch(body)
	if m == nil {
		return nil, fmt.Errorf("no login form in %.200q", body)
	}
	form := url.Values{"id": {m[1]}, "username": {username}, "password": {password}}
	return client.PostForm(p.Issuer+"/login", form)
}

// ReadBody reads and closes resp's body.
func ReadBody(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return string(b)
}

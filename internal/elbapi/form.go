package elbapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// maxFormParams bounds the parameters of one request (URL query and form
// body together). A 1 MiB body of meaningful parameters (Targets.member.N.Id
// and the like, 20 bytes or more each) has fewer, so every request the body
// limit lets through is decoded in full and answered by its operation
// (TooManyTargets, a ValidationError, ...); only a form of empty or one-byte
// parameters goes beyond it. It is also the largest list index accepted.
const maxFormParams = 1 << 16

// parseForm decodes an application/x-www-form-urlencoded string as
// url.ParseQuery does (pairs separated by '&', '+' for space, percent
// escapes, no ';' separator), but with kelb's own bound on the number of
// parameters instead of net/url's, so that a large but legitimate request
// reaches its operation. seen counts parameters already decoded into form.
func parseForm(form url.Values, s string, seen *int) error {
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if pair == "" {
			continue
		}
		if strings.Contains(pair, ";") {
			return fmt.Errorf("invalid semicolon separator in query")
		}
		if *seen++; *seen > maxFormParams {
			return errTooManyParams
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			return err
		}
		v, err = url.QueryUnescape(v)
		if err != nil {
			return err
		}
		form[k] = append(form[k], v)
	}
	return nil
}

var errTooManyParams = fmt.Errorf("more than %d parameters", maxFormParams)

// DecodeForm merges the URL query and, for POST, the form body. The body
// wins when both carry a key. The EC2 API decodes its forms with it too.
func DecodeForm(r *http.Request, body []byte) (url.Values, *Error) {
	form := url.Values{}
	seen := 0
	if err := parseForm(form, r.URL.RawQuery, &seen); err != nil {
		return nil, formError("query string", err)
	}
	if r.Method == http.MethodPost && len(body) > 0 {
		bodyForm := url.Values{}
		if err := parseForm(bodyForm, string(body), &seen); err != nil {
			return nil, formError("form body", err)
		}
		for k, v := range bodyForm {
			form[k] = v
		}
	}
	return form, nil
}

func formError(where string, err error) *Error {
	if err == errTooManyParams {
		return ValidationError("The request has more than %d parameters", maxFormParams)
	}
	return &Error{Code: "MalformedQueryString", Status: http.StatusBadRequest,
		Message: fmt.Sprintf("The %s is malformed: %v", where, err)}
}

package health

import (
	"fmt"
	"strconv"
	"strings"
)

// codeMatcher is a parsed Matcher.HTTPCode: a comma-separated list of codes
// and inclusive ranges ("200", "200,202", "200-399", "200,300-302").
type codeMatcher []codeRange

type codeRange struct{ lo, hi int }

// parseMatcher parses an HTTP code matcher.
func parseMatcher(s string) (codeMatcher, error) {
	var m codeMatcher
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		l, err1 := strconv.Atoi(lo)
		h, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || l < 100 || h > 599 || l > h {
			return nil, fmt.Errorf("invalid HTTP code matcher %q: bad element %q", s, part)
		}
		m = append(m, codeRange{l, h})
	}
	return m, nil
}

func (m codeMatcher) matches(code int) bool {
	for _, r := range m {
		if code >= r.lo && code <= r.hi {
			return true
		}
	}
	return false
}

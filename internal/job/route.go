package job

import (
	"errors"
	"strings"
)

// ErrRouteTaken: a deploy names a route that another function holds (a conflict).
var ErrRouteTaken = errors.New("function route taken")

// Bounds of a function's routes.
const (
	MaxRoutes   = 16
	MaxRouteLen = 256
)

// ReservedRoutes are the trigger listener's own path prefixes: no function's route
// may be one of them or lie under one.
var ReservedRoutes = []string{"/fn", "/ipfs", "/ipns", "/api", "/metrics", "/debug", "/.well-known"}

// CleanRoute returns s without its trailing '/' (the root "/" stays as it is): the
// form a route is kept in.
func CleanRoute(s string) string {
	for len(s) > 1 && strings.HasSuffix(s, "/") {
		s = s[:len(s)-1]
	}
	return s
}

// ValidRoute reports whether s can be a function's route on the trigger listener: an
// absolute path in its clean form ("/hello", "/api-v2/users", or "/" for every path
// no other route takes), of segments made of URL path characters (no '%', '?', '#',
// no "." or ".." segment, no empty one), outside the reserved prefixes.
func ValidRoute(s string) error {
	if s == "" || s[0] != '/' {
		return invalid("route %q: want an absolute path such as /hello", truncateName(s))
	}
	if len(s) > MaxRouteLen {
		return invalid("route %q: longer than %d bytes", truncateName(s), MaxRouteLen)
	}
	if s == "/" {
		return nil
	}
	if strings.HasSuffix(s, "/") {
		return invalid("route %q: want no trailing '/' (%s matches %s/... too)", truncateName(s), CleanRoute(s), CleanRoute(s))
	}
	for _, seg := range strings.Split(s[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return invalid("route %q: empty, '.' or '..' segment", truncateName(s))
		}
		for i := 0; i < len(seg); i++ {
			if !routeByte(seg[i]) {
				return invalid("route %q: byte %q is not allowed (want letters, digits and -._~!$&'()*+,;=:@)", truncateName(s), seg[i])
			}
		}
	}
	for _, r := range ReservedRoutes {
		if s == r || strings.HasPrefix(s, r+"/") {
			return invalid("route %s: %s/ is reserved for the trigger listener's own paths", s, r)
		}
	}
	return nil
}

// routeByte reports whether c may appear in a route's segment: RFC 3986's unreserved
// characters and sub-delimiters, ':' and '@', never a percent-escape.
func routeByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@", c) >= 0
}

// RouteMatches reports whether route takes the request path p (a decoded, clean
// path): p is the route or lies under it, segment by segment ("/hello" takes /hello
// and /hello/x, not /helloworld); "/" takes every path.
func RouteMatches(route, p string) bool {
	return route == "/" || p == route || strings.HasPrefix(p, route) && p[len(route)] == '/'
}

func (f *Function) validateRoutes() error {
	if len(f.Routes) > MaxRoutes {
		return invalid("function %s: %d routes, at most %d", f.Name, len(f.Routes), MaxRoutes)
	}
	seen := map[string]bool{}
	for _, r := range f.Routes {
		if err := ValidRoute(r); err != nil {
			return invalid("function %s: %v", f.Name, strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
		}
		if seen[r] {
			return invalid("function %s: route %s given twice", f.Name, r)
		}
		seen[r] = true
	}
	return nil
}

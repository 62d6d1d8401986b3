package functions

import (
	"strings"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// A route is one function's at a time: a deploy that names another function's route
// is refused (Registry.RouteOwner). Two deploys made at once on two nodes can still
// both claim one; every node then gives it to the function whose name sorts first, so
// that the whole network agrees without a vote.

// rebuildRoutesLocked makes r.routes again from the live functions.
func (r *Registry) rebuildRoutesLocked() {
	routes := map[string]string{}
	for _, f := range r.fns {
		if f.Deleted {
			continue
		}
		for _, rt := range f.Routes {
			if old, ok := routes[rt]; !ok || f.Name < old {
				routes[rt] = f.Name
			}
		}
	}
	r.routes = routes
}

// RouteOwner returns the name of the live function that holds route.
func (r *Registry) RouteOwner(route string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name, ok := r.routes[route]
	return name, ok
}

// Route returns the function whose route takes the request path p (decoded and
// clean), the longest such route, and that route.
func (r *Registry) Route(p string) (*job.Function, string, bool) {
	if p == "" || p[0] != '/' {
		return nil, "", false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.routes) == 0 {
		return nil, "", false
	}
	for try := p; ; {
		if name, ok := r.routes[try]; ok {
			if f := r.fns[name]; f != nil && !f.Deleted {
				return f, try, true
			}
		}
		if try == "/" {
			return nil, "", false
		}
		i := strings.LastIndexByte(try, '/')
		if i == 0 {
			try = "/"
		} else {
			try = try[:i]
		}
	}
}

// SplitRoute returns the SCRIPT_NAME and PATH_INFO of a request for path p that route
// took (job.RouteMatches): the root route's SCRIPT_NAME is empty.
func SplitRoute(route, p string) (script, pathInfo string) {
	if route == "/" {
		return "", p
	}
	return route, p[len(route):]
}

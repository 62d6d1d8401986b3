package job

import (
	"errors"
	"strings"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
)

func TestValidRoute(t *testing.T) {
	for _, ok := range []string{"/", "/hello", "/api-v2/users", "/a/b/c", "/~me", "/fnord", "/ipfsish", "/x:y@z"} {
		if err := ValidRoute(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"":                                     "absolute path",
		"hello":                                "absolute path",
		"/hello/":                              "trailing",
		"//x":                                  "segment",
		"/a//b":                                "segment",
		"/a/../b":                              "segment",
		"/./b":                                 "segment",
		"/a b":                                 "not allowed",
		"/a%2Fb":                               "not allowed",
		"/a?b":                                 "not allowed",
		"/a#b":                                 "not allowed",
		"/a\x00":                               "not allowed",
		"/fn":                                  "reserved",
		"/fn/hello":                            "reserved",
		"/ipfs/bafy":                           "reserved",
		"/metrics":                             "reserved",
		"/api/v1":                              "reserved",
		"/" + strings.Repeat("a", MaxRouteLen): "longer",
	} {
		err := ValidRoute(bad)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want ErrInvalid saying %q", bad, err, want)
		}
	}
}

func TestRouteMatches(t *testing.T) {
	for _, c := range []struct {
		route, path string
		want        bool
	}{
		{"/hello", "/hello", true},
		{"/hello", "/hello/", true},
		{"/hello", "/hello/x/y", true},
		{"/hello", "/helloworld", false},
		{"/hello", "/", false},
		{"/a/b", "/a", false},
		{"/", "/anything/at/all", true},
	} {
		if got := RouteMatches(c.route, c.path); got != c.want {
			t.Errorf("RouteMatches(%q, %q) = %v", c.route, c.path, got)
		}
	}
}

func TestFunctionRoutes(t *testing.T) {
	f := Function{Name: "hello", Module: cidtext.MustParse("bafkqaaa"), Routes: []string{"/hello/", "/hi"}}
	f.Normalize()
	if err := f.Validate(); err != nil || f.Routes[0] != "/hello" {
		t.Fatalf("%v %v", f.Routes, err)
	}
	for name, routes := range map[string][]string{
		"twice":    {"/a", "/a/"},
		"reserved": {"/fn/x"},
		"many":     make([]string, MaxRoutes+1),
	} {
		g := Function{Name: "hello", Module: cidtext.MustParse("bafkqaaa"), Routes: routes}
		g.Normalize()
		if err := g.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "function hello") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzRoute(f *testing.F) {
	for _, s := range []string{"/", "/hello", "/a/b", "/fn/x", "/a/../b", "//", "/a%20b", "/x:y@z"} {
		f.Add(s, "/hello/x")
	}
	f.Fuzz(func(t *testing.T, route, path string) {
		if ValidRoute(route) != nil {
			return
		}
		if CleanRoute(route) != route || !strings.HasPrefix(route, "/") || strings.Contains(route, "//") ||
			strings.ContainsAny(route, "%?# \x00") || len(route) > MaxRouteLen {
			t.Fatalf("accepted route %q", route)
		}
		for _, r := range ReservedRoutes {
			if RouteMatches(r, route) {
				t.Fatalf("accepted %q under the reserved %s", route, r)
			}
		}
		if RouteMatches(route, path) && route != "/" && !strings.HasPrefix(path, route) {
			t.Fatalf("%q matched %q", route, path)
		}
	})
}

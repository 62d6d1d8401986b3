package functions

import (
	"path/filepath"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// TestRegistryRoutes: routes follow deploys, redeploys and deletes, survive a reopen,
// and a route two functions claim (deploys made at once on two nodes) is the one whose
// name sorts first, whatever the order the records came in.
func TestRegistryRoutes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	reg, err := OpenRegistry(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	apply := func(name string, version int64, deleted bool, routes ...string) {
		t.Helper()
		f := job.Function{Name: name, Module: cidtext.MustParse("bafkqaaa"), Version: version, Deployer: "d", Deleted: deleted, Routes: routes}
		if !deleted {
			f.Normalize()
		}
		if _, err := reg.Apply(f); err != nil {
			t.Fatal(err)
		}
	}
	owner := func(route string) string {
		name, _ := reg.RouteOwner(route)
		return name
	}
	apply("b", 1, false, "/shared", "/b")
	apply("a", 1, false, "/shared")
	if owner("/shared") != "a" || owner("/b") != "b" {
		t.Fatalf("owners: /shared %q, /b %q", owner("/shared"), owner("/b"))
	}
	apply("a", 2, false) // a redeploy without routes gives them up
	if owner("/shared") != "b" {
		t.Fatalf("/shared after a's redeploy: %q", owner("/shared"))
	}
	apply("b", 2, false, "/moved")
	if _, ok := reg.RouteOwner("/shared"); ok || owner("/moved") != "b" {
		t.Fatalf("after b moved: /shared %q, /moved %q", owner("/shared"), owner("/moved"))
	}
	if reg, err = OpenRegistry(path, 0); err != nil {
		t.Fatal(err)
	}
	if f, route, ok := reg.Route("/moved/x/y"); !ok || f.Name != "b" || route != "/moved" {
		t.Fatalf("after a reopen: %v %q %v", f, route, ok)
	}
	apply("b", 3, true)
	if _, _, ok := reg.Route("/moved/x"); ok {
		t.Fatal("a deleted function's route still answers")
	}
}

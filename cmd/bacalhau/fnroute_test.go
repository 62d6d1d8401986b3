package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestFunctionRoutes: a function deployed on node A with --route answers on node B's
// trigger under that route, with SCRIPT_NAME the route; a route another function holds
// or a reserved one is refused at deploy, naming why; a redeploy moves the route and a
// delete frees it, on every node.
func TestFunctionRoutes(t *testing.T) {
	a, b := newFnNode(t, "a"), newFnNode(t, "b")
	startNetwork(t, a.netNode, b.netNode)
	answers := func(n *fnNode, path string, status int, want string) {
		t.Helper()
		eventually(t, 60*time.Second, func() error {
			code, body, _ := n.call("GET", path, nil)
			if code != status || !strings.Contains(body, want) {
				return fmt.Errorf("node %s: GET %s: %d %q, want %d %q", n.name, path, code, body, status, want)
			}
			return nil
		})
	}

	if out := a.ok("fn", "deploy", "hello", guestPath["fnfaulty"], "--route", "/hello"); !strings.Contains(out, "/hello") {
		t.Fatalf("deploy:\n%s", out)
	}
	answers(b, "/hello/env?x=1", 200, "script=/hello path=/env uri=/hello/env?x=1\n")
	answers(b, "/hello", 200, "ok  0\n")
	answers(b, "/fn/hello/env", 200, "script=/fn/hello path=/env uri=/fn/hello/env\n")
	answers(b, "/helloworld", 404, "no function's route takes /helloworld")
	if out := b.ok("fn", "list"); !strings.Contains(out, "ROUTES") || !strings.Contains(out, "/hello") {
		t.Fatalf("fn list on b:\n%s", out)
	}
	if out := b.ok("fn", "describe", "hello"); !strings.Contains(out, "- /hello") {
		t.Fatalf("fn describe on b:\n%s", out)
	}

	// Refused: another function's route (on the other node: it learned the route), and
	// the trigger's own prefixes.
	if _, errs, code := b.cli("fn", "deploy", "other", guestPath["fnfaulty"], "--route", "/hello/"); code == 0 || !strings.Contains(errs, "/hello is function hello's") {
		t.Fatalf("deploy on a taken route: %d %s", code, errs)
	}
	for _, r := range []string{"/fn/x", "/ipfs", "/metrics", "hello", "/a/../b"} {
		if _, errs, code := b.cli("fn", "deploy", "other", guestPath["fnfaulty"], "--route", r); code == 0 || !strings.Contains(errs, "route") {
			t.Fatalf("deploy with --route %s: %d %s", r, code, errs)
		}
	}

	// A redeploy on B moves the route; the old one is free for another function.
	b.ok("fn", "deploy", "hello", guestPath["fnfaulty"], "--route", "/hi")
	answers(a, "/hi/env", 200, "script=/hi path=/env")
	answers(a, "/hello/env", 404, "no function's route takes")
	eventually(t, 30*time.Second, func() error {
		if _, errs, code := a.cli("fn", "deploy", "other", guestPath["fnhello"], "--route", "/hello"); code != 0 {
			return fmt.Errorf("deploy other on the freed route: %s", errs)
		}
		return nil
	})
	answers(b, "/hello/?name=route", 200, "Hello, route!\n")

	// A delete frees the route everywhere.
	a.ok("fn", "delete", "hello")
	answers(b, "/hi/env", 404, "no function's route takes")
}

package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestFunctionLogsAcrossNodes: requests that node B ran, and what the guest wrote to
// stderr for them, are shown by `fn logs` asked of node A, each line naming B; -f on A
// follows new requests on B.
func TestFunctionLogsAcrossNodes(t *testing.T) {
	a, b := newFnNode(t, "a"), newFnNode(t, "b")
	startNetwork(t, a.netNode, b.netNode)
	a.ok("fn", "deploy", "echo", guestPath["fnfaulty"])
	var reqID string
	eventually(t, 60*time.Second, func() error {
		code, body, h := b.call("POST", "/fn/echo/stderr", []byte("abc"))
		if code != 200 || body != "ok /stderr 3\n" {
			return fmt.Errorf("node b: %d %q", code, body)
		}
		reqID = h.Get("X-Request-Id")
		return nil
	})
	logs := a.ok("fn", "logs", "echo")
	var line string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, reqID) && !strings.HasPrefix(l, "    | ") { // not the stderr under it
			line = l
		}
	}
	if !strings.Contains(line, " "+b.id.String()+" "+reqID+" 200 POST /stderr ") ||
		!strings.Contains(logs, "    | a line on stderr for "+reqID+"\n") {
		t.Fatalf("fn logs on a, request %s on b:\n%s", reqID, logs)
	}
	if out := a.ok("fn", "logs", "echo", "--output", "json"); !strings.Contains(out, `"node": "`+b.id.String()+`"`) ||
		!strings.Contains(out, `"stderr": "a line on stderr for `+reqID+`\n"`) {
		t.Fatalf("fn logs --output json on a:\n%s", out)
	}

	// -f on A prints the requests B runs from now on.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "--api-port", itoa(a.port), "fn", "logs", "echo", "-f")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	code, _, h := b.call("GET", "/fn/echo/followed", nil)
	if code != 200 {
		t.Fatalf("node b: %d", code)
	}
	want := " " + b.id.String() + " " + h.Get("X-Request-Id") + " 200 GET /followed "
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("fn logs -f ended before showing %q", want)
			}
			if strings.Contains(l, want) {
				return
			}
		case <-timeout:
			t.Fatalf("fn logs -f on a did not show %q within a minute", want)
		}
	}
}

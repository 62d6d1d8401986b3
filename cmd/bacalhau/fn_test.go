package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// fnNode is a node process with a trigger listener.
type fnNode struct {
	*netNode
	trigger int
}

func newFnNode(t *testing.T, name string, extra ...string) *fnNode {
	t.Helper()
	n := &fnNode{netNode: newNetNode(t, name, binPath), trigger: freePort(t)}
	n.args = append(n.args, append([]string{"--trigger-port", strconv.Itoa(n.trigger)}, extra...)...)
	return n
}

func (n *fnNode) url(path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(n.trigger) + path
}

var fnClient = &http.Client{Timeout: time.Minute}

// call sends one request to the node's trigger and returns the status and body.
func (n *fnNode) call(method, path string, body []byte) (int, string, http.Header) {
	n.t.Helper()
	req, err := http.NewRequest(method, n.url(path), bytes.NewReader(body))
	if err != nil {
		n.t.Fatal(err)
	}
	resp, err := fnClient.Do(req)
	if err != nil {
		return 0, err.Error(), nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// metric reads one unlabelled series of the node's /metrics.
func (n *fnNode) metric(name string) float64 {
	n.t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(n.port) + "/metrics")
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				n.t.Fatal(err)
			}
			return f
		}
	}
	n.t.Fatalf("no metric %s", name)
	return 0
}

// TestFunctionFaults drives one real node process through its trigger port with the
// faults of issue 10: requests that never end mixed with good ones, bodies over the
// limit, slow clients, and guests that write malformed or response-splitting headers.
func TestFunctionFaults(t *testing.T) {
	n := newFnNode(t, "a", "--trigger-header-timeout", "1s", "--trigger-body-timeout", "1s")
	n.start()
	n.ok("fn", "deploy", "faulty", guestPath["fnfaulty"], "--timeout", "2s", "--max-body", "1KiB", "--concurrency", "16")

	if code, body, _ := n.call("GET", "/fn/faulty/warm", nil); code != 200 || body != "ok /warm 0\n" {
		t.Fatalf("first request: %d %q", code, body)
	}
	baseG := n.metric("go_goroutines")
	baseRSS := n.metric("process_resident_memory_bytes")

	// 10% of the requests spin forever: they get 504 after the timeout, the others 200.
	const total, workers = 100, 8
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := range next {
				path := "/fn/faulty/req" + strconv.Itoa(i)
				if i%10 == 0 {
					path = "/fn/faulty/loop"
				}
				code, body, _ := n.call("POST", path, []byte("hello"))
				key := strconv.Itoa(code)
				if code == 200 && body != "ok /req"+strconv.Itoa(i)+" 5\n" {
					key = "bad body " + body
				}
				if i%10 == 0 {
					key = "loop " + key
				}
				mu.Lock()
				got[key]++
				mu.Unlock()
			}
		})
	}
	for i := 0; i < total; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if want := map[string]int{"200": 90, "loop 504": 10}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("statuses: %v, want %v", got, want)
	}

	// Bodies over the limit: 413, whether the length is announced or not.
	if code, body, _ := n.call("POST", "/fn/faulty/x", make([]byte, 2048)); code != 413 || !strings.Contains(body, "limit") {
		t.Fatalf("2 KiB body: %d %s", code, body)
	}
	pr, pw := io.Pipe()
	go func() { pw.Write(make([]byte, 4096)); pw.Close() }()
	req, _ := http.NewRequest("POST", n.url("/fn/faulty/x"), pr) // chunked: no Content-Length
	if resp, err := fnClient.Do(req); err != nil || resp.StatusCode != 413 {
		t.Fatalf("chunked 4 KiB body: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// Guests that break the CGI contract: 502 with the reason, never their headers.
	for path, want := range map[string]string{
		"/crlf":      "control byte",
		"/malformed": "no ':'",
		"/nohead":    "no blank line",
		"/trap":      "exited with code 2",
		"/big":       "larger than the node's limit",
	} {
		code, body, h := n.call("GET", "/fn/faulty"+path, nil)
		if code != 502 || !strings.Contains(body, want) || h.Get("Set-Cookie") != "" || h.Get("X-Evil") != "" {
			t.Errorf("%s: %d %q %v, want 502 saying %q", path, code, body, h, want)
		}
	}

	// Slowloris: a client that never finishes its headers, and one that never finishes
	// its body, are cut off after the timeouts while others are served.
	slow := func(payload string) net.Conn {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(n.trigger))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, payload); err != nil {
			t.Fatal(err)
		}
		return c
	}
	var conns []net.Conn
	for i := 0; i < 20; i++ {
		conns = append(conns, slow("GET /fn/faulty/x HTTP/1.1\r\nHost: x\r\n"))
	}
	bodyConn := slow("POST /fn/faulty/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
	if code, _, _ := n.call("GET", "/fn/faulty/during", nil); code != 200 {
		t.Fatalf("request during the slow clients: %d", code)
	}
	for i, c := range append(conns, bodyConn) {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("slow client %d still connected after 5 s (read %q)", i, b)
		}
		if c == bodyConn && !bytes.Contains(b, []byte("408")) {
			t.Errorf("slow body: got %q, want a 408", b)
		}
		c.Close()
	}

	// Everything returns to its baseline: goroutines at once, RSS within a margin for
	// what the Go runtime keeps.
	eventually(t, 15*time.Second, func() error {
		if g := n.metric("go_goroutines"); g > baseG+5 {
			return fmt.Errorf("%v goroutines, %v before the faults", g, baseG)
		}
		return nil
	})
	if rss := n.metric("process_resident_memory_bytes"); rss > baseRSS+96<<20 {
		t.Fatalf("RSS %.0f MiB after the faults, %.0f MiB before", rss/(1<<20), baseRSS/(1<<20))
	}
	t.Logf("goroutines %v -> %v, RSS %.0f MiB -> %.0f MiB", baseG, n.metric("go_goroutines"), baseRSS/(1<<20), n.metric("process_resident_memory_bytes")/(1<<20))

	// The node kept a record of every request, the faults with their reasons.
	logs := n.ok("fn", "logs", "faulty")
	if strings.Count(logs, " 504 POST /loop ") != 10 || !strings.Contains(logs, "did not answer within its timeout of 2s") ||
		!strings.Contains(logs, " 200 POST /req99 ") {
		t.Fatalf("fn logs:\n%s", logs)
	}

	// An unknown function: 404 naming it.
	if code, body, _ := n.call("GET", "/fn/nosuch/", nil); code != 404 || !strings.Contains(body, `"function":"nosuch"`) {
		t.Fatalf("unknown function: %d %s", code, body)
	}
}

// TestFunctionAcrossNodes: a function deployed on node A is served by node B (which
// fetches the module by CID), a redeploy swaps it everywhere, B serves again after a
// restart, a node that joins later learns it, and a delete on any node reaches all.
func TestFunctionAcrossNodes(t *testing.T) {
	a, b := newFnNode(t, "a"), newFnNode(t, "b")
	startNetwork(t, a.netNode, b.netNode)

	a.ok("fn", "deploy", "hello", guestPath["fnhello"], "--mode", "pooled")
	serves := func(n *fnNode, path, want string) {
		t.Helper()
		eventually(t, 60*time.Second, func() error {
			code, body, _ := n.call("GET", path, nil)
			if code != 200 || body != want {
				return fmt.Errorf("node %s: GET %s: %d %q, want 200 %q", n.name, path, code, body, want)
			}
			return nil
		})
	}
	t0 := time.Now()
	serves(b, "/fn/hello/?name=b", "Hello, b!\n")
	t.Logf("first request on another node (pull + fetch + compile): %s", time.Since(t0))
	if out := b.ok("fn", "list"); !strings.Contains(out, "hello") || !strings.Contains(out, "pooled") {
		t.Fatalf("fn list on b:\n%s", out)
	}

	// Redeploy on B: A swaps to the new module.
	b.ok("fn", "deploy", "hello", guestPath["fnfaulty"])
	serves(a, "/fn/hello/x", "ok /x 0\n")
	serves(b, "/fn/hello/x", "ok /x 0\n")
	a.ok("fn", "deploy", "hello", guestPath["fnhello"])
	serves(b, "/fn/hello/?name=again", "Hello, again!\n")

	// B restarts: it serves again from what it kept (registry, blocks, compiled code).
	b.kill()
	b.start()
	t0 = time.Now()
	if code, body, _ := b.call("GET", "/fn/hello/?name=restart", nil); code != 200 || body != "Hello, restart!\n" {
		t.Fatalf("after the restart: %d %q", code, body)
	}
	t.Logf("first request after a restart: %s", time.Since(t0))

	// A node that joins later learns the function.
	c := newFnNode(t, "c")
	c.args = append(c.args, "--peer", a.addr())
	c.start()
	serves(c, "/fn/hello/?name=c", "Hello, c!\n")

	// A delete anywhere reaches every node.
	c.ok("fn", "delete", "hello")
	for _, n := range []*fnNode{a, b, c} {
		eventually(t, 30*time.Second, func() error {
			if code, _, _ := n.call("GET", "/fn/hello/", nil); code != 404 {
				return fmt.Errorf("node %s still serves hello after the delete: %d", n.name, code)
			}
			return nil
		})
	}
	if _, errs, code := a.cli("fn", "describe", "hello"); code == 0 || !strings.Contains(errs, "no such function") {
		t.Fatalf("describe after delete: %d %s", code, errs)
	}
}

// TestFunctionAsync: Prefer: respond-async makes the request a job, whose stdout is the
// function's CGI response.
func TestFunctionAsync(t *testing.T) {
	n := newFnNode(t, "a")
	n.start()
	n.ok("fn", "deploy", "echo", guestPath["fnfaulty"])
	req, _ := http.NewRequest("POST", n.url("/fn/echo/async"), strings.NewReader("twelve bytes"))
	req.Header.Set("Prefer", "respond-async")
	resp, err := fnClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	id, ok := strings.CutPrefix(loc, "/api/v1/jobs/")
	if resp.StatusCode != 202 || !ok {
		t.Fatalf("async: %d, Location %q", resp.StatusCode, loc)
	}
	j, err := n.client().Watch(context.Background(), id, func(*job.Job) bool { return true })
	if err != nil || j.State != job.StateCompleted {
		t.Fatalf("job %s: %v %v", id, j, err)
	}
	// fnfaulty reads stdin, which a job does not have: it answers with the body length 0,
	// and the path it was asked for.
	if out := n.ok("logs", id); !strings.Contains(out, "ok /async 0") {
		t.Fatalf("job stdout:\n%s", out)
	}
}

// TestFunctionPooled: pooled instances keep state between requests, and one that hangs,
// exits or reaches its request budget is replaced while the function goes on serving.
func TestFunctionPooled(t *testing.T) {
	n := newFnNode(t, "a")
	n.start()
	n.ok("fn", "deploy", "p", guestPath["fnpooled"], "--mode", "pooled", "--pool-size", "1", "--concurrency", "1", "--recycle", "4", "--timeout", "2s")
	expect := func(path string, status int, body string) {
		t.Helper()
		code, got, _ := n.call("GET", "/fn/p"+path, nil)
		if code != status || !strings.Contains(got, body) {
			t.Fatalf("%s: %d %q, want %d %q", path, code, got, status, body)
		}
	}
	// One instance: the count goes on between requests; a panic is the handler's 500.
	expect("/count", 200, "1")
	expect("/count", 200, "2")
	expect("/panic", 500, "")
	expect("/count", 200, "4") // the 4th request: the recycle budget
	expect("/count", 200, "1") // a new instance
	expect("/loop", 504, "did not answer within its timeout of 2s")
	expect("/count", 200, "1")
	expect("/exit", 502, "exited with code 3")
	expect("/count", 200, "1")
	if code, _, _ := n.call("GET", "/fn/p/count", nil); code != 200 {
		t.Fatal(code)
	}
	// The live instance shows on /metrics (the gauge reads the runtime that serves).
	if got := n.metric("bacalhau_function_pooled_instances"); got != 1 {
		t.Fatalf("bacalhau_function_pooled_instances %v, want 1", got)
	}
}

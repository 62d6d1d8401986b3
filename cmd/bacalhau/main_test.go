package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cli"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cli/nodecmd"
)

// Built once by TestMain: the CLI binary with bacalhau-node beside it (for tests that
// kill a node process) and the guests the tests run.
var (
	binPath   string
	liarPath  string // testdata/liar: bacalhau-node whose every result is altered
	guestPath = map[string]string{}
)

// run executes one command line in this process, as bacalhau-node would: the client
// commands and the node's.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return cli.Run(ctx, args, stdin, stdout, stderr, nodecmd.Commands)
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bacalhau-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if err := buildAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, "building test binaries:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildAll(dir string) error {
	builds := map[string][]string{
		"bacalhau":  {"build", "-o", filepath.Join(dir, "bacalhau"), "."},
		"node":      {"build", "-o", filepath.Join(dir, cli.NodeBinary), "../bacalhau-node"},
		"liar":      {"build", "-o", filepath.Join(dir, "bacalhau-liar"), "./testdata/liar"},
		"hello":     {"build", "-o", filepath.Join(dir, "hello.wasm"), "../../examples/hello"},
		"wordcount": {"build", "-o", filepath.Join(dir, "wordcount.wasm"), "../../examples/wordcount"},
		"sha256":    {"build", "-o", filepath.Join(dir, "sha256.wasm"), "../../examples/sha256"},
		"faulty":    {"build", "-o", filepath.Join(dir, "faulty.wasm"), "./testdata/guests/faulty"},
		"wasiconf":  {"build", "-o", filepath.Join(dir, "wasiconf.wasm"), "../../sandbox/testdata/guests/wasiconf"},
		"fnfaulty":  {"build", "-o", filepath.Join(dir, "fnfaulty.wasm"), "./testdata/guests/fnfaulty"},
		"fnhello":   {"build", "-o", filepath.Join(dir, "fnhello.wasm"), "../../examples/fnhello"},
		"fnpooled":  {"build", "-o", filepath.Join(dir, "fnpooled.wasm"), "./testdata/guests/fnpooled"},
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	for name, args := range builds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("go", args...)
			switch name {
			case "bacalhau":
				cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build builds it
			case "node", "liar":
			default:
				cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("%s: %v\n%s", name, err, out))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	binPath = filepath.Join(dir, "bacalhau")
	liarPath = filepath.Join(dir, "bacalhau-liar")
	for _, g := range []string{"hello", "wordcount", "sha256", "faulty", "wasiconf", "fnfaulty", "fnhello", "fnpooled"} {
		guestPath[g] = filepath.Join(dir, g+".wasm")
	}
	return nil
}

// testNode is a node served in-process on a free loopback port.
type testNode struct {
	t    *testing.T
	repo string
	port int
	stop func()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startNode(t *testing.T, extra ...string) *testNode {
	t.Helper()
	n := &testNode{t: t, repo: t.TempDir(), port: freePort(t)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out syncBuffer
	args := append([]string{"serve", "--repo", n.repo, "--api-port", strconv.Itoa(n.port), "--swarm-host", "127.0.0.1", "--swarm-port", "0", "--log-level", "error"}, extra...)
	go func() { done <- run(ctx, args, nil, &out, &out) }()
	n.stop = func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited with %d: %s", code, out.String())
		}
	}
	t.Cleanup(n.stop)
	n.waitReady(done, &out)
	return n
}

func (n *testNode) waitReady(done chan int, out *syncBuffer) {
	c := n.client()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Health(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case code := <-done:
			n.t.Fatalf("serve exited with %d before it was ready: %s", code, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("node not ready: %v", err)
		}
	}
}

func (n *testNode) client() *api.Client {
	return api.NewClient("http://127.0.0.1:" + strconv.Itoa(n.port))
}

// cli runs one bacalhau command against the node and returns stdout, stderr and the
// exit code.
func (n *testNode) cli(args ...string) (string, string, int) {
	n.t.Helper()
	var out, errb bytes.Buffer
	all := append([]string{"--api-port", strconv.Itoa(n.port)}, args...)
	code := run(context.Background(), all, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

// ok runs a command that must succeed and returns its stdout.
func (n *testNode) ok(args ...string) string {
	n.t.Helper()
	out, errs, code := n.cli(args...)
	if code != 0 {
		n.t.Fatalf("bacalhau %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// field returns the value of a "Name:  value" line of printOutcome's output.
func field(out, name string) string {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// shared is the kubo test data beside the repository.
func shared(t *testing.T, parts ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{"..", "..", "..", "shared", "testdata", "unixfs"}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("shared test data missing (the repo must have ../shared beside it): %v", err)
	}
	return p
}

// cliIn is cli with stdin.
func (n *testNode) cliIn(stdin string, args ...string) (string, string, int) {
	n.t.Helper()
	var out, errb bytes.Buffer
	all := append([]string{"--api-port", strconv.Itoa(n.port)}, args...)
	code := run(context.Background(), all, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

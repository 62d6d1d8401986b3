// Package interop drives the real kubo command and our real bacalhau binaries side by
// side, as a user would: kubo peers and our nodes exchange blocks over bitswap both
// ways, CARs move between them through pipes, kubo finds our nodes on the standard DHT
// and reads our GossipSub topics, and our gateway answers as kubo's does.
//
// It is a Go module of its own (stdlib only: it talks to both through their commands
// and HTTP), so kubo's dependency versions never constrain the main module's. The
// binaries come from `make build examples kubo` (bin/ and build/examples/ of the
// repository); with CI=true a missing one fails the tests, elsewhere they skip.
package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// repoFile is a path in the repository this module sits in.
func repoFile(t *testing.T, parts ...string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(append([]string{".."}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing: `make build examples kubo` builds it (make test does)", p)
		}
		t.Skipf("%s missing: run `make build examples kubo` first", p)
	}
	return p
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

// eventually retries cond until it returns nil or within passes.
func eventually(t *testing.T, within time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// process is a long-running command of a test, stopped with SIGTERM at its end.
type process struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	gone chan struct{}
}

func startProcess(t *testing.T, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	p := &process{t: t, name: name, cmd: exec.Command(bin, args...), out: &syncBuffer{}, gone: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.gone)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	return p
}

func (p *process) stop() {
	select {
	case <-p.gone:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.gone:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.gone
	}
}

// waitOutput waits until the process has printed want.
func (p *process) waitOutput(want string, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(p.out.String(), want) {
		select {
		case <-p.gone:
			p.t.Fatalf("%s exited before printing %q:\n%s", p.name, want, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not print %q within %s:\n%s", p.name, want, within, p.out.String())
		}
	}
}

// kubo is one private kubo node: a fresh repo (`ipfs init --profile=test`: loopback
// only, no bootstrap peers, no autoconf, no delegated routers), pubsub on.
type kubo struct {
	t     *testing.T
	bin   string
	env   []string
	swarm int
	id    string
	gw    int
	d     *process
}

func newKubo(t *testing.T) *kubo {
	t.Helper()
	k := &kubo{t: t, bin: repoFile(t, "bin", "ipfs"), swarm: freePort(t), gw: freePort(t)}
	k.env = append(os.Environ(), "IPFS_PATH="+t.TempDir(), "IPFS_TELEMETRY=off")
	k.run("init", "--profile=test", "-e")
	k.run("config", "--json", "Addresses.Swarm", fmt.Sprintf(`["/ip4/127.0.0.1/tcp/%d"]`, k.swarm))
	k.run("config", "Addresses.Gateway", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", k.gw))
	k.run("config", "--json", "Pubsub.Enabled", "true")
	var id struct{ ID string }
	if err := json.Unmarshal([]byte(k.run("id")), &id); err != nil {
		t.Fatal(err)
	}
	k.id = id.ID
	return k
}

// start runs the daemon and waits until it is ready.
func (k *kubo) start() {
	k.t.Helper()
	k.d = startProcess(k.t, "ipfs daemon", k.env, k.bin, "daemon")
	k.d.waitOutput("Daemon is ready", time.Minute)
}

func (k *kubo) addr() string { return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", k.swarm, k.id) }

// run runs an ipfs command that must succeed and returns its trimmed output.
func (k *kubo) run(args ...string) string {
	k.t.Helper()
	out, err := k.try(nil, args...)
	if err != nil {
		k.t.Fatalf("ipfs %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// try runs an ipfs command with stdin (may be nil), bounded to two minutes.
func (k *kubo) try(stdin io.Reader, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.bin, args...)
	cmd.Env, cmd.Stdin = k.env, stdin
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// command is an ipfs command to run with the caller's plumbing.
func (k *kubo) command(args ...string) *exec.Cmd {
	cmd := exec.Command(k.bin, args...)
	cmd.Env = k.env
	return cmd
}

// node is one `bacalhau serve` process (bin/bacalhau, which execs bin/bacalhau-node).
type node struct {
	t     *testing.T
	bin   string
	repo  string
	api   int
	swarm int
	gw    int
	id    string
	args  []string
	p     *process
}

func newNode(t *testing.T, extra ...string) *node {
	t.Helper()
	n := &node{t: t, bin: repoFile(t, "bin", "bacalhau"), repo: t.TempDir(), api: freePort(t), swarm: freePort(t), gw: freePort(t)}
	repoFile(t, "bin", "bacalhau-node")
	n.args = append([]string{"serve", "--repo", n.repo, "--api-port", strconv.Itoa(n.api),
		"--swarm-host", "127.0.0.1", "--swarm-port", strconv.Itoa(n.swarm),
		"--gateway-port", strconv.Itoa(n.gw), "--log-level", "warn"}, extra...)
	return n
}

func startNode(t *testing.T, extra ...string) *node {
	t.Helper()
	n := newNode(t, extra...)
	n.start()
	return n
}

func (n *node) start() {
	n.t.Helper()
	n.p = startProcess(n.t, "bacalhau serve", os.Environ(), n.bin, n.args...)
	n.p.waitOutput("ready in", time.Minute)
	var info struct{ ID string }
	if err := json.Unmarshal([]byte(n.ok("id", "--output", "json")), &info); err != nil {
		n.t.Fatal(err)
	}
	n.id = info.ID
}

func (n *node) addr() string { return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", n.swarm, n.id) }

func (n *node) gateway() string { return fmt.Sprintf("http://127.0.0.1:%d", n.gw) }

// cli runs a client command against the node with stdin (may be nil); stdout, stderr
// and the error of the run.
func (n *node) cli(stdin io.Reader, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, n.bin, append([]string{"--api-port", strconv.Itoa(n.api)}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// command is a client command against the node, to run with the caller's plumbing.
func (n *node) command(args ...string) *exec.Cmd {
	return exec.Command(n.bin, append([]string{"--api-port", strconv.Itoa(n.api)}, args...)...)
}

// ok runs a client command that must succeed and returns its trimmed stdout.
func (n *node) ok(args ...string) string {
	n.t.Helper()
	out, errs, err := n.cli(nil, args...)
	if err != nil {
		n.t.Fatalf("bacalhau %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errs)
	}
	return strings.TrimSpace(out)
}

// field is the value of a "Name:  value" line of `wasm run`'s output.
func field(out, name string) string {
	for line := range strings.SplitSeq(out, "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// example is a built example guest.
func example(t *testing.T, name string) string {
	t.Helper()
	return repoFile(t, "build", "examples", name+".wasm")
}

// sameTree fails unless the trees under a and b hold the same files with the same bytes.
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	read := func(root string) map[string]string {
		m := map[string]string{}
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if d.IsDir() {
				m[rel+"/"] = ""
				return nil
			}
			data, err := os.ReadFile(p)
			m[rel] = string(data)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	ma, mb := read(a), read(b)
	if len(ma) != len(mb) {
		t.Fatalf("%s has %d entries, %s has %d", a, len(ma), b, len(mb))
	}
	for k, v := range ma {
		w, ok := mb[k]
		if !ok {
			t.Fatalf("%s is in %s, not in %s", k, a, b)
		}
		if v != w {
			t.Fatalf("%s differs: %d bytes in %s, %d in %s", k, len(v), a, len(w), b)
		}
	}
}

// dataset writes a small tree: text files, a nested directory, a 3 MiB file of several
// chunks.
func dataset(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "dataset")
	for f, s := range map[string]string{
		"a.txt":          "the quick brown fox\njumps over the lazy dog\n",
		"b.txt":          "hello hello world\n",
		"sub/c.txt":      "one two three\n",
		"sub/deep/d.txt": "the end\n",
	} {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	big := make([]byte, 3<<20+17)
	for i := range big {
		big[i] = byte(i*7 + i>>11)
	}
	if err := os.WriteFile(filepath.Join(root, "sub", "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
)

// proc is a `bacalhau serve` process on a fresh port.
type proc struct {
	cmd   *exec.Cmd
	port  int
	ready time.Duration // from exec to the first answered health check
}

func (b *bench) serve(repo string, extra ...string) (*proc, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	args := append([]string{"serve", "--repo", repo, "--api-port", strconv.Itoa(port), "--swarm-host", "127.0.0.1", "--swarm-port", "0", "--log-level", "error"}, extra...)
	cmd := exec.Command(b.bin, args...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, port: port}
	c := p.client()
	for {
		ctx, cancel := context.WithTimeout(b.ctx, time.Second)
		err := c.Health(ctx)
		cancel()
		if err == nil {
			p.ready = time.Since(start)
			return p, nil
		}
		if time.Since(start) > 30*time.Second {
			p.stop()
			return nil, fmt.Errorf("node not ready after 30s: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
}

func (p *proc) client() *api.Client { return api.NewClient("http://127.0.0.1:" + strconv.Itoa(p.port)) }

func (p *proc) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// rss reads the resident set size of the process in bytes.
func (p *proc) rss() (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS")
}

// cli runs the CLI against p and returns its stdout and how long the process took.
func (b *bench) cli(p *proc, args ...string) (string, time.Duration, error) {
	return timed(exec.Command(b.bin, append([]string{"--api-port", strconv.Itoa(p.port)}, args...)...), "bacalhau", args)
}

// timed runs cmd and returns its stdout and how long it took; a failure carries stderr.
func timed(cmd *exec.Cmd, name string, args []string) (string, time.Duration, error) {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return out.String(), d, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.String(), d, nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

func field(out, name string) string {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// wrkResult is what one wrk run measured.
type wrkResult struct {
	rps      float64
	p50, p99 time.Duration
	non2xx   int
}

var (
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+([0-9]+)`)
	wrkLatency = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
)

// wrk runs Debian's wrk against url with conns keep-alive connections.
func wrk(url string, conns int, d time.Duration) (wrkResult, error) {
	out, err := exec.Command("wrk", "-t2", "-c"+strconv.Itoa(conns), "-d"+d.String(), "--latency", url).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk (apt-get install wrk): %v\n%s", err, out)
	}
	var r wrkResult
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk's output:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		r.non2xx, _ = strconv.Atoi(string(m[1]))
	}
	for _, m := range wrkLatency.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(m[3])]
		d := time.Duration(v * float64(unit))
		if string(m[1]) == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	return r, nil
}

func (r wrkResult) String() string {
	s := fmt.Sprintf("%.0f req/s, p50 %s, p99 %s", r.rps, ms(r.p50), ms(r.p99))
	if r.non2xx > 0 {
		s += fmt.Sprintf(", %d non-2xx", r.non2xx)
	}
	return s
}

// functions measures the trigger with wrk: the Go SDK hello function pooled and fresh
// against a native net/http hello handler served by this process in the same run, and
// the first requests after a deploy and after a restart.
func (b *bench) functions() ([]row, error) {
	if _, err := exec.LookPath("wrk"); err != nil {
		return nil, fmt.Errorf("wrk is not installed: apt-get install wrk")
	}
	const conns, dur = 16, 5 * time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	native := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "Hello, world!\n")
	})}
	go native.Serve(l)
	defer native.Close()
	nat, err := wrk("http://"+l.Addr().String()+"/", conns, dur)
	if err != nil {
		return nil, err
	}

	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tport := tl.Addr().(*net.TCPAddr).Port
	tl.Close()
	repo := b.repo("functions")
	p, err := b.serve(repo, "--trigger-port", strconv.Itoa(tport))
	if err != nil {
		return nil, err
	}
	defer func() { p.stop() }()
	base := "http://127.0.0.1:" + strconv.Itoa(tport) + "/fn/"
	hello := filepath.Join(b.examples, "fnhello.wasm")
	if _, _, err := b.cli(p, "fn", "deploy", "hellop", hello, "--mode", "pooled", "--concurrency", "64", "--pool-size", "4"); err != nil {
		return nil, err
	}
	if _, _, err := b.cli(p, "fn", "deploy", "hello", hello, "--concurrency", "64"); err != nil {
		return nil, err
	}
	// The tiny non-Go guest: C speaking CGI (examples/c/fncgi.c, built by make examples
	// when clang and wasi-libc are installed).
	cgi := filepath.Join(b.examples, "fncgi.wasm")
	_, err = os.Stat(cgi)
	haveCGI := err == nil
	if haveCGI {
		if _, _, err := b.cli(p, "fn", "deploy", "cgi", cgi, "--concurrency", "64"); err != nil {
			return nil, err
		}
	}
	first := func(url string) (time.Duration, error) {
		t0 := time.Now()
		resp, err := http.Get(url)
		if err != nil {
			return 0, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("GET %s: %s %s", url, resp.Status, body)
		}
		return time.Since(t0), nil
	}
	compile, err := first(base + "hello/")
	if err != nil {
		return nil, err
	}
	if _, err := first(base + "hellop/"); err != nil {
		return nil, err
	}
	pooled, err := wrk(base+"hellop/", conns, dur)
	if err != nil {
		return nil, err
	}
	fresh, err := wrk(base+"hello/", conns, dur)
	if err != nil {
		return nil, err
	}
	cgiRow := row{"fn cgi (C, CGI), fresh, wrk 16 connections", "not built: apt-get install clang-14 lld-14 wasi-libc, make examples", ">= 10,000 req/s", ""}
	if haveCGI {
		if _, err := first(base + "cgi/"); err != nil {
			return nil, err
		}
		r, err := wrk(base+"cgi/", conns, dur)
		if err != nil {
			return nil, err
		}
		cgiRow.value = r.String()
		cgiRow.note = fmt.Sprintf("%.1f%% of native req/s", 100*r.rps/nat.rps)
	}
	p.stop()
	if p, err = b.serve(repo, "--trigger-port", strconv.Itoa(tport)); err != nil {
		return nil, err
	}
	restart, err := first(base + "hello/")
	if err != nil {
		return nil, err
	}
	restartPooled, err := first(base + "hellop/")
	if err != nil {
		return nil, err
	}
	ratio := func(r wrkResult) string {
		return fmt.Sprintf("%.1f%% of native req/s, p99 %.1fx native", 100*r.rps/nat.rps, float64(r.p99)/float64(nat.p99))
	}
	return []row{
		{"native Go net/http hello, wrk 16 connections", nat.String(), "", "yardstick, same run"},
		{"fn hello (Go SDK), pooled, wrk 16 connections", pooled.String(), ">= 25% native, p99 <= 2x", ratio(pooled)},
		{"fn hello (Go SDK), fresh, wrk 16 connections", fresh.String(), ">= 600 req/s", ratio(fresh)},
		cgiRow,
		{"fn first request after deploy (compile)", ms(compile), "", ""},
		{"fn first request after a restart (disk cache), fresh / pooled", ms(restart) + " / " + ms(restartPooled), "<= 50 ms", ""},
	}, nil
}

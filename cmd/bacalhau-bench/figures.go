package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/store"
)

func (b *bench) repo(name string) string { return filepath.Join(b.work, name) }

// serveWith starts a node on a fresh repo and adds path to it.
func (b *bench) serveWith(name, path string) (*proc, string, error) {
	p, err := b.serve(b.repo(name))
	if err != nil {
		return nil, "", err
	}
	out, _, err := b.cli(p, "data", "add", path)
	if err != nil {
		p.stop()
		return nil, "", err
	}
	return p, strings.TrimSpace(out), nil
}

// startup: exec to API ready, and idle RSS of a fresh node.
func (b *bench) startup() ([]row, error) {
	var ready []time.Duration
	var rss uint64
	for i := 0; i < 5; i++ {
		p, err := b.serve(b.repo(fmt.Sprintf("startup-%d", i)))
		if err != nil {
			return nil, err
		}
		ready = append(ready, p.ready)
		time.Sleep(time.Second)
		r, err := p.rss()
		p.stop()
		if err != nil {
			return nil, err
		}
		rss = max(rss, r)
	}
	return []row{
		{"start to API ready (median of 5, fresh repo)", ms(median(ready)), "<= 150 ms", ""},
		{"idle node RSS (max of 5)", fmt.Sprintf("%.1f MiB", float64(rss)/(1<<20)), "<= 64 MiB", ""},
	}, nil
}

// hello: `bacalhau wasm run hello.wasm`, CLI start to printed result, on a warm node.
func (b *bench) hello() ([]row, error) {
	p, err := b.serve(b.repo("hello"))
	if err != nil {
		return nil, err
	}
	defer p.stop()
	trivial, err := b.trivialStart()
	if err != nil {
		return nil, err
	}
	hello := filepath.Join(b.examples, "hello.wasm")
	var ds, base []time.Duration
	for i := 0; i < 22; i++ {
		out, d, err := b.cli(p, "wasm", "run", hello)
		if err != nil {
			return nil, err
		}
		if !strings.Contains(out, "Hello, world!") {
			return nil, fmt.Errorf("hello printed %q", out)
		}
		_, t, err := timed(exec.Command(trivial), "trivial", nil)
		if err != nil {
			return nil, err
		}
		if i >= 2 { // two warm-up runs: the first compiles the module
			ds, base = append(ds, d), append(base, t)
		}
	}
	return []row{{"wasm run hello.wasm end to end (median of 20, warm)",
		fmt.Sprintf("%s = %.1fx trivial start (%s)", ms(median(ds)), ratio(median(ds), median(base)), ms(median(base))),
		"<= 40 ms; <= 3x trivial start", "upstream 1.9.3: 1030 ms"}}, nil
}

// burst: 200 hello jobs submitted at once.
func (b *bench) burst() ([]row, error) {
	p, err := b.serve(b.repo("burst"))
	if err != nil {
		return nil, err
	}
	defer p.stop()
	out, _, err := b.cli(p, "data", "add", filepath.Join(b.examples, "hello.wasm"))
	if err != nil {
		return nil, err
	}
	mod := strings.TrimSpace(out)
	if _, _, err := b.cli(p, "wasm", "run", mod); err != nil { // warm the compile cache
		return nil, err
	}
	c := p.client()
	const n = 200
	modCID, err := job.ParseCID(mod)
	if err != nil {
		return nil, err
	}
	spec := job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: modCID}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	states := map[job.State]int{}
	var errs []error
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			j, err := c.Submit(ctx, spec)
			if err == nil {
				j, err = c.Watch(ctx, j.ID, func(*job.Job) bool { return true })
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			states[j.State]++
		}()
	}
	wg.Wait()
	d := time.Since(start)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%d of %d submissions failed, first: %v", len(errs), n, errs[0])
	}
	note := fmt.Sprintf("%d completed, %d failed, %d other, in %s", states[job.StateCompleted], states[job.StateFailed], n-states[job.StateCompleted]-states[job.StateFailed], d.Round(time.Millisecond))
	return []row{{"200 hello jobs at once", fmt.Sprintf("%.0f jobs/s", n/d.Seconds()), ">= 100 jobs/s, none failed", note}}, nil
}

// makeFile writes n bytes of SHA-256 counter-mode data (incompressible, reproducible).
func makeFile(path string, n int64, seed string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<20)
	var ctr [8]byte
	for k, left := uint64(0), n; left > 0; k++ {
		binary.BigEndian.PutUint64(ctr[:], k)
		sum := sha256.Sum256(append([]byte(seed), ctr[:]...))
		buf = append(buf, sum[:]...)
		if len(buf) >= 1<<20 || int64(len(buf)) >= left {
			w := buf[:min(int64(len(buf)), left)]
			if _, err := f.Write(w); err != nil {
				f.Close()
				return err
			}
			left -= int64(len(w))
			buf = buf[:0]
		}
	}
	return f.Close()
}

// sha256: the sha256 example over 100 MB as a job, against bare wazero on a host file
// and against sha256sum.
func (b *bench) sha256() ([]row, error) {
	const size = 100_000_000
	dir := filepath.Join(b.work, "sha-in")
	file := filepath.Join(dir, "data.bin")
	if err := makeFile(file, size, "sha"); err != nil {
		return nil, err
	}
	p, in, err := b.serveWith("sha", dir)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	mod := filepath.Join(b.examples, "sha256.wasm")
	var jobs []time.Duration
	for i := 0; i < 4; i++ {
		out, d, err := b.cli(p, "wasm", "run", mod, "-i", in)
		if err != nil {
			return nil, err
		}
		if !strings.Contains(out, "data.bin") {
			return nil, fmt.Errorf("sha256 job printed %q", out)
		}
		if i > 0 {
			jobs = append(jobs, d)
		}
	}
	bare, err := bareWazero(b.ctx, mod, dir, 3)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := exec.Command("sha256sum", file).Run(); err != nil {
		return nil, err
	}
	sum := time.Since(start)
	j := median(jobs)
	return []row{
		{"sha256 of 100 MB: job end to end (median of 3)", ms(j), "", ""},
		{"sha256 of 100 MB: bare wazero, host dir (median of 3)", ms(bare), "", "compile not counted; sha256sum: " + ms(sum)},
		{"sha256 job / bare wazero", fmt.Sprintf("%.2fx", j.Seconds()/bare.Seconds()), "<= 1.1x", "upstream 1.9.3: 7.5 s vs 2.5 s (3x)"},
	}, nil
}

// read: a guest reading a 256 MiB UnixFS file from the blockstore against the same
// guest reading the same bytes from a host directory.
func (b *bench) read() ([]row, error) {
	const size = 256 << 20
	dir := filepath.Join(b.work, "read-in")
	file := filepath.Join(dir, "data.bin")
	if err := makeFile(file, size, "read"); err != nil {
		return nil, err
	}
	ipfs, host, err := readThroughput(b.ctx, b.readall, dir, filepath.Join(b.work, "read-store"), 3)
	if err != nil {
		return nil, err
	}
	p, in, err := b.serveWith("read", dir)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	var jobs []time.Duration
	for i := 0; i < 3; i++ {
		_, d, err := b.cli(p, "wasm", "run", b.readall, "-i", in)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			jobs = append(jobs, d)
		}
	}
	return []row{
		{"guest reads 256 MiB: blockstore fs.FS", fmt.Sprintf("%.0f MB/s", mbps(size, ipfs)), "", "same sandbox, median of 3"},
		{"guest reads 256 MiB: host directory", fmt.Sprintf("%.0f MB/s", mbps(size, host)), "", "same sandbox, median of 3"},
		{"blockstore / host read throughput", fmt.Sprintf("%.2fx", host.Seconds()/ipfs.Seconds()), ">= 0.8x", fmt.Sprintf("as a job end to end: %.0f MB/s", mbps(size, median(jobs)))},
	}, nil
}

// add: `bacalhau data add` of a 256 MiB file, against kubo's `ipfs add` when it is
// installed.
func (b *bench) add() ([]row, error) {
	const size = 256 << 20
	var ds []time.Duration
	p, err := b.serve(b.repo("add"))
	if err != nil {
		return nil, err
	}
	defer p.stop()
	for i := 0; i < 3; i++ {
		file := filepath.Join(b.work, fmt.Sprintf("add-%d.bin", i))
		if err := makeFile(file, size, fmt.Sprintf("add-%d", i)); err != nil {
			return nil, err
		}
		_, d, err := b.cli(p, "data", "add", file)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
		os.Remove(file)
	}
	ours := mbps(size, median(ds))
	rows := []row{{"data add 256 MiB (CLI end to end, durable, median of 3)", fmt.Sprintf("%.0f MB/s", ours), ">= kubo (~355 MB/s)", ""}}
	for _, sync := range []bool{false, true} {
		name := "kubo ipfs add 256 MiB (default: flatfs sync off)"
		if sync {
			name = "kubo ipfs add 256 MiB (flatfs sync on: durable, like ours)"
		}
		if k, err := b.kuboAdd(size, sync); err == nil {
			rows = append(rows, row{name, fmt.Sprintf("%.0f MB/s", k), "", fmt.Sprintf("ours / kubo = %.2fx", ours/k)})
		} else {
			rows = append(rows, row{name, "not measured", "", err.Error()})
		}
	}
	return rows, nil
}

// kuboAdd times `ipfs add --cid-version=1` of fresh 256 MiB files on a new kubo repo;
// sync turns on flatfs's fsync, which kubo's default config leaves off.
func (b *bench) kuboAdd(size int64, sync bool) (float64, error) {
	ipfs, err := exec.LookPath("ipfs")
	if err != nil {
		return 0, fmt.Errorf("no ipfs on PATH (make kubo builds one)")
	}
	repo := filepath.Join(b.work, fmt.Sprintf("kubo-%v", sync))
	env := append(os.Environ(), "IPFS_PATH="+repo)
	init := exec.Command(ipfs, "init", "--profile=test")
	init.Env = env
	if out, err := init.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("ipfs init: %v: %s", err, out)
	}
	if sync {
		cfg := filepath.Join(repo, "config")
		b, err := os.ReadFile(cfg)
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(string(b), `"sync": false`, `"sync": true`)), 0o600); err != nil {
			return 0, err
		}
	}
	var ds []time.Duration
	for i := 0; i < 3; i++ {
		file := filepath.Join(b.work, fmt.Sprintf("kubo-%d.bin", i))
		if err := makeFile(file, size, fmt.Sprintf("kubo-%v-%d", sync, i)); err != nil {
			return 0, err
		}
		cmd := exec.Command(ipfs, "add", "-Q", "--cid-version=1", file)
		cmd.Env = env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("ipfs add: %v: %s", err, out)
		}
		ds = append(ds, time.Since(start))
		os.Remove(file)
	}
	return mbps(size, median(ds)), nil
}

// list: `bacalhau list` with 10,000 jobs stored.
func (b *bench) list() ([]row, error) {
	repo := b.repo("list")
	if err := os.MkdirAll(repo, 0o700); err != nil {
		return nil, err
	}
	s, err := store.Open(filepath.Join(repo, "jobs"))
	if err != nil {
		return nil, err
	}
	spec := job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: cidtext.MustParse("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4")}}
	t0 := time.Now().Add(-time.Hour)
	for i := 0; i < 10_000; i++ {
		j := job.New(spec, t0.Add(time.Duration(i)*time.Millisecond))
		j.State = job.StateCompleted
		if err := s.Create(j); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.Close()
	p, err := b.serve(repo)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	var ds []time.Duration
	for i := 0; i < 11; i++ {
		out, d, err := b.cli(p, "list")
		if err != nil {
			return nil, err
		}
		if strings.Count(out, "\n") != 11 {
			return nil, fmt.Errorf("list printed %d lines", strings.Count(out, "\n"))
		}
		if i > 0 {
			ds = append(ds, d)
		}
	}
	return []row{{"list with 10,000 jobs stored (CLI end to end, median of 10)", ms(median(ds)), "<= 50 ms", "upstream 1.9.3: 2750 ms with 400 jobs"}}, nil
}

package main

// The figures of the peer-to-peer issue, on real `bacalhau serve` processes (and kubo
// daemons for comparison) talking over loopback.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// netNode is a serve process on the network: its peer ID and TCP join address.
type netNode struct {
	*proc
	id, addr string
}

// join starts a node with labels that joins the network through via (nil: a new network).
func (b *bench) join(repo, labels string, via *netNode) (*netNode, error) {
	args := []string{"--labels", labels}
	if via != nil {
		args = append(args, "--peer", via.addr)
	}
	p, err := b.serve(repo, args...)
	if err != nil {
		return nil, err
	}
	info, err := p.client().Node(b.ctx)
	if err != nil {
		p.stop()
		return nil, err
	}
	n := &netNode{proc: p, id: info.ID}
	for _, a := range info.Addrs {
		if strings.Contains(a, "/tcp/") {
			n.addr = a
			break
		}
	}
	if n.addr == "" {
		p.stop()
		return nil, fmt.Errorf("node %s has no TCP address in %v", info.ID, info.Addrs)
	}
	return n, nil
}

// startNet starts a node per label set, the first alone and the others through it, and
// waits until every node lists every other as live. The nodes it returns, even with an
// error, must be stopped with stopNet.
func (b *bench) startNet(name string, labels ...string) ([]*netNode, error) {
	var ns []*netNode
	for i, l := range labels {
		var via *netNode
		if i > 0 {
			via = ns[0]
		}
		n, err := b.join(b.repo(fmt.Sprintf("%s-%d", name, i)), l, via)
		if err != nil {
			return ns, fmt.Errorf("node %d: %w", i, err)
		}
		ns = append(ns, n)
	}
	ids := make([]string, len(ns))
	for i, n := range ns {
		ids[i] = n.id
	}
	_, err := waitKnown(ns, ids, time.Now(), 60*time.Second)
	return ns, err
}

func stopNet(ns []*netNode) {
	var wg sync.WaitGroup
	for _, n := range ns {
		wg.Go(n.stop)
	}
	wg.Wait()
}

// waitKnown polls every node of ns until its GET /api/v1/nodes lists each of ids (but
// itself) as live, and returns how long after since each one got there.
func waitKnown(ns []*netNode, ids []string, since time.Time, timeout time.Duration) ([]time.Duration, error) {
	ds := make([]time.Duration, len(ns))
	errs := make([]error, len(ns))
	var wg sync.WaitGroup
	for i, n := range ns {
		wg.Go(func() {
			c := n.client()
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				ps, err := c.Nodes(ctx)
				cancel()
				missing := 0
				for _, id := range ids {
					if id != n.id && !slices.ContainsFunc(ps, func(p api.PeerStatus) bool { return p.ID == id && p.Live }) {
						missing++
					}
				}
				if err == nil && missing == 0 {
					ds[i] = time.Since(since)
					return
				}
				if time.Since(since) > timeout {
					errs[i] = fmt.Errorf("node %s: %d of %d peers not listed live after %v (last error: %v)", n.id, missing, len(ids), timeout, err)
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	return ds, errors.Join(errs...)
}

// net3: a job sent to A, run on B (by label), with its input on C.
func (b *bench) net3() ([]row, error) {
	ns, err := b.startNet("net3", "role=a", "role=b", "role=c")
	defer stopNet(ns)
	if err != nil {
		return nil, err
	}
	a, nb, c := ns[0], ns[1], ns[2]
	in := filepath.Join(b.work, "net3-in.txt")
	if err := os.WriteFile(in, []byte("input held by node C\n"), 0o644); err != nil {
		return nil, err
	}
	out, _, err := b.cli(c.proc, "data", "add", in)
	if err != nil {
		return nil, err
	}
	cid := strings.TrimSpace(out)
	hello := filepath.Join(b.examples, "hello.wasm")
	var ds []time.Duration
	for i := 0; i < 22; i++ {
		out, d, err := b.cli(a.proc, "wasm", "run", hello, "-i", cid, "-s", "role=b")
		if err != nil {
			return nil, err
		}
		if field(out, "State") != "completed" || !strings.Contains(out, "Hello, world!") {
			return nil, fmt.Errorf("run %d printed %q", i, out)
		}
		j, err := a.client().Get(b.ctx, field(out, "Job ID"))
		if err != nil {
			return nil, err
		}
		if e := j.Reported(); e == nil || e.NodeID != nb.id {
			return nil, fmt.Errorf("job %s did not run on B (%s): %+v", j.ID, nb.id, e)
		}
		if i >= 2 { // warm-up: B fetches and compiles the module, opens C's input
			ds = append(ds, d)
		}
	}
	return []row{{"3 nodes: wasm run hello.wasm -i <CID on C> -s role=b, sent to A, runs on B (median of 20, warm)",
		ms(median(ds)), "<= 150 ms", "CLI start to printed result"}}, nil
}

// netBitswap: node B fetching from node A a 256 MiB file and a directory of 1,000 4 KiB
// files (`bacalhau data get` on a fresh B each time), against two kubo daemons.
func (b *bench) netBitswap() ([]row, error) {
	const size, files, runs = 256 << 20, 1000, 3
	big := filepath.Join(b.work, "bs-big.bin")
	if err := makeFile(big, size, "bitswap"); err != nil {
		return nil, err
	}
	dir := filepath.Join(b.work, "bs-dir")
	for i := 0; i < files; i++ {
		if err := makeFile(filepath.Join(dir, fmt.Sprintf("f%04d", i)), 4096, fmt.Sprintf("bs-%d", i)); err != nil {
			return nil, err
		}
	}
	a, err := b.join(b.repo("bs-a"), "role=a", nil)
	if err != nil {
		return nil, err
	}
	defer a.stop()
	var cids [2]string
	for i, p := range []string{big, dir} {
		out, _, err := b.cli(a.proc, "data", "add", p)
		if err != nil {
			return nil, err
		}
		cids[i] = strings.TrimSpace(out)
	}
	k, kerr := b.startKubo("bs")
	defer k.stop()
	var kcids [2]string
	for i, p := range []string{big, dir} {
		if kerr == nil {
			kcids[i], _, kerr = k.ipfs(0, "add", "-Q", "-r", "--cid-version=1", p)
			kcids[i] = strings.TrimSpace(kcids[i])
		}
	}
	wantSum, err := fileSum(big)
	if err != nil {
		return nil, err
	}
	// Ours and kubo's runs alternate, so a change of load on the machine hits both.
	var ours, kubo [2][]time.Duration
	for r := 0; r < runs; r++ {
		for i := range cids {
			dst := filepath.Join(b.work, fmt.Sprintf("bs-get-%d-%d", r, i))
			d, err := b.fetch(a, b.repo(fmt.Sprintf("bs-b-%d-%d", r, i)), cids[i], dst)
			if err != nil {
				return nil, err
			}
			if i == 0 {
				if sum, err := fileSum(dst); err != nil || sum != wantSum {
					return nil, fmt.Errorf("fetched file differs (%v)", err)
				}
			} else if ents, err := os.ReadDir(dst); err != nil || len(ents) != files {
				return nil, fmt.Errorf("fetched directory has %d entries (%v)", len(ents), err)
			}
			os.RemoveAll(dst)
			ours[i] = append(ours[i], d)
			if kerr == nil {
				var d time.Duration
				if d, kerr = k.pin(kcids[i]); kerr == nil {
					kubo[i] = append(kubo[i], d)
				}
			}
		}
	}
	o := mbps(size, median(ours[0]))
	rows := []row{
		{"bitswap: B fetches 256 MiB from A (data get, fresh B, median of 3)", fmt.Sprintf("%.0f MB/s", o), "", "runs " + each(ours[0]) + "; load average " + loadavg()},
		{"bitswap: B fetches 1,000 x 4 KiB files from A (data get, fresh B, median of 3)", ms(median(ours[1])), "<= 1 s", "runs " + each(ours[1])},
	}
	if kerr != nil {
		return append(rows, row{"kubo to kubo", "not measured", "", kerr.Error()}), nil
	}
	kb := mbps(size, median(kubo[0]))
	rows = append(rows,
		row{"kubo to kubo: ipfs pin add 256 MiB (median of 3)", fmt.Sprintf("%.0f MB/s", kb), "", "runs " + each(kubo[0])},
		row{"bitswap 256 MiB: ours / kubo", fmt.Sprintf("%.2fx", o/kb), ">= 1.0x", "ours writes the file out too; kubo's pin add does not"},
	)
	// kubo's `ipfs get` writes the files out, as ours does: once each, capped.
	for i, what := range []string{"256 MiB", "1,000 x 4 KiB files"} {
		const limit = 60 * time.Second
		name := "kubo to kubo: ipfs get " + what + " (1 run)"
		dst := filepath.Join(b.work, fmt.Sprintf("bs-kget-%d", i))
		ctx, cancel := context.WithTimeout(b.ctx, limit)
		_, d, err := k.ipfsCtx(ctx, 1, "get", "-o", dst, kcids[i])
		capped := ctx.Err() != nil
		cancel()
		os.RemoveAll(dst)
		k.ipfs(1, "repo", "gc", "-q")
		note := "pin add runs " + each(kubo[i])
		switch {
		case capped:
			rows = append(rows, row{name, "> " + limit.String(), "", "stopped at the cap; " + note})
		case err != nil:
			rows = append(rows, row{name, "not measured", "", err.Error()})
		case i == 0:
			rows = append(rows, row{name, fmt.Sprintf("%.0f MB/s", mbps(size, d)), "", ms(d)})
		default:
			rows = append(rows, row{name, ms(d), "", note})
		}
	}
	return rows, nil
}

// fetch starts a fresh node on repo that joins through src, waits until it lists src
// live, times `bacalhau data get cid -o dst` on it, and removes the node's repo.
func (b *bench) fetch(src *netNode, repo, cid, dst string) (time.Duration, error) {
	n, err := b.join(repo, "role=b", src)
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(repo)
	defer n.stop()
	if _, err := waitKnown([]*netNode{n}, []string{src.id}, time.Now(), 30*time.Second); err != nil {
		return 0, err
	}
	_, d, err := b.cli(n.proc, "data", "get", cid, "-o", dst)
	return d, err
}

// each lists durations in seconds.
func each(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = fmt.Sprintf("%.2f", d.Seconds())
	}
	return strings.Join(s, ", ") + " s"
}

// loadavg is the machine's 1, 5 and 15 minute load averages.
func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func fileSum(path string) ([32]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return [32]byte{}, err
	}
	return [32]byte(h.Sum(nil)), nil
}

// kuboNet is two kubo daemons on loopback TCP, the second connected to the first, with
// no bootstrap peers and no routing: nothing leaves the machine.
type kuboNet struct {
	bin   string
	repos []string
	procs []*proc
}

func (b *bench) startKubo(name string) (*kuboNet, error) {
	k := &kuboNet{}
	var err error
	if k.bin, err = exec.LookPath("ipfs"); err != nil {
		return k, fmt.Errorf("no ipfs on PATH (make kubo builds one)")
	}
	for i := 0; i < 2; i++ {
		k.repos = append(k.repos, b.repo(fmt.Sprintf("%s-kubo-%d", name, i)))
		if _, _, err := k.ipfs(i, "init", "--profile=test"); err != nil {
			return k, err
		}
		if _, _, err := k.ipfs(i, "config", "Routing.Type", "none"); err != nil {
			return k, err
		}
		p, err := k.daemon(i)
		if err != nil {
			return k, err
		}
		k.procs = append(k.procs, p)
	}
	addrs, _, err := k.ipfs(0, "id", "-f", "<addrs>")
	if err != nil {
		return k, err
	}
	addr, _, _ := strings.Cut(strings.TrimSpace(addrs), "\n")
	_, _, err = k.ipfs(1, "swarm", "connect", addr)
	return k, err
}

func (k *kuboNet) ipfs(i int, args ...string) (string, time.Duration, error) {
	return k.ipfsCtx(context.Background(), i, args...)
}

func (k *kuboNet) ipfsCtx(ctx context.Context, i int, args ...string) (string, time.Duration, error) {
	cmd := exec.CommandContext(ctx, k.bin, args...)
	cmd.Env = append(os.Environ(), "IPFS_PATH="+k.repos[i], "IPFS_TELEMETRY=off")
	return timed(cmd, "ipfs", args)
}

// daemon starts `ipfs daemon` on repo i and waits for it to say it is ready.
func (k *kuboNet) daemon(i int) (*proc, error) {
	cmd := exec.Command(k.bin, "daemon")
	cmd.Env = append(os.Environ(), "IPFS_PATH="+k.repos[i], "IPFS_TELEMETRY=off")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Daemon is ready") {
				ready <- true
				io.Copy(io.Discard, out)
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if ok {
			return p, nil
		}
		p.stop()
		return nil, fmt.Errorf("kubo daemon %d exited before it was ready", i)
	case <-time.After(60 * time.Second):
		p.stop()
		return nil, fmt.Errorf("kubo daemon %d not ready after 60s", i)
	}
}

// pin times `ipfs pin add` of cid on the second daemon, then unpins it and collects
// the garbage so the next run fetches everything again.
func (k *kuboNet) pin(cid string) (time.Duration, error) {
	_, d, err := k.ipfs(1, "pin", "add", "--progress=false", cid)
	if err != nil {
		return 0, err
	}
	if _, _, err := k.ipfs(1, "pin", "rm", cid); err != nil {
		return 0, err
	}
	_, _, err = k.ipfs(1, "repo", "gc", "-q")
	return d, err
}

func (k *kuboNet) stop() {
	for _, p := range k.procs {
		p.stop()
	}
}

// net20: 20 nodes, each joining through the first. How long until the one started last
// is listed live by every other, and until a job submitted to it is on every node.
func (b *bench) net20() ([]row, error) {
	const size = 20
	labels := make([]string, size-1)
	for i := range labels {
		labels[i] = "n=" + strconv.Itoa(i)
	}
	ns, err := b.startNet("net20", labels...)
	defer func() { stopNet(ns) }()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	last, err := b.join(b.repo("net20-last"), "n=last", ns[0])
	if err != nil {
		return nil, err
	}
	others := ns
	ns = append(ns, last)
	ds, err := waitKnown(others, []string{last.id}, start, 60*time.Second)
	if err != nil {
		return nil, err
	}
	known := slices.Max(ds)
	var rss uint64
	for _, n := range ns {
		r, err := n.rss()
		if err != nil {
			return nil, err
		}
		rss += r
	}
	rows := []row{{"20 nodes: last started listed live by all 19 others", ms(known), "<= 5 s",
		fmt.Sprintf("from its exec; median %s; RSS of all 20: %.0f MiB", ms(median(ds)), float64(rss)/(1<<20))}}

	// A job submitted to a node: its record on every other node (the job event gossiped,
	// then each node pulls the record). Once from the newest node, at once, and once from
	// a node that has been on the network for a while.
	out, _, err := b.cli(last.proc, "data", "add", filepath.Join(b.examples, "hello.wasm"))
	if err != nil {
		return nil, err
	}
	mod, err := job.ParseCID(strings.TrimSpace(out))
	if err != nil {
		return nil, err
	}
	spec := job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: mod}}
	for i, from := range []*netNode{last, ns[1]} {
		what := "the newest node, right after it is known"
		if i > 0 {
			what = "a node started earlier"
		}
		ds, slow, err := b.spread(from, ns, spec)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row{"20 nodes: job submitted to " + what + ", its record on all 20 (API)", ms(slices.Max(ds)), "",
			fmt.Sprintf("median %s, slowest node %d; job event + record pull + 10 ms polls, more than the announcement", ms(median(ds)), slow)})
	}

	// The announcement itself is not visible through the API: the dht package's test of
	// 20 in-process nodes reports it.
	m, err := goTestLog("./dht/", "TestTwentyNodes",
		`(\d+) nodes: last started known to all others after (\S+); announcement reached all \d+ after (\S+) \(median (\S+)\)`)
	if err != nil {
		return append(rows, row{"20 nodes (dht in-process test)", "ERROR", "", err.Error()}), nil
	}
	d := make([]time.Duration, 3)
	for i := range d {
		if d[i], err = time.ParseDuration(m[i+1]); err != nil {
			return append(rows, row{"20 nodes (dht in-process test)", "ERROR", "", err.Error()}), nil
		}
	}
	return append(rows,
		row{"20 nodes: last started known to all others (dht in-process test)", ms(d[0]), "<= 5 s", ""},
		row{"20 nodes: job announcement reached all 20 (dht in-process test)", ms(d[1]), "<= 1 s", "median " + ms(d[2])},
	), nil
}

// spread submits spec to from and polls GET /api/v1/jobs/ID on every other node of ns
// every 10 ms: how long after the submission each other one has the job's record, and
// the index in ns of the slowest.
func (b *bench) spread(from *netNode, ns []*netNode, spec job.Spec) ([]time.Duration, int, error) {
	sent := time.Now()
	j, err := from.client().Submit(b.ctx, spec)
	if err != nil {
		return nil, 0, err
	}
	ds := make([]time.Duration, len(ns))
	errs := make([]error, len(ns))
	var wg sync.WaitGroup
	for i, n := range ns {
		if n == from {
			ds[i] = -1
			continue
		}
		wg.Go(func() {
			c := n.client()
			for {
				ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
				_, err := c.Get(ctx, j.ID)
				cancel()
				if err == nil {
					ds[i] = time.Since(sent)
					return
				}
				if time.Since(sent) > 30*time.Second {
					errs[i] = fmt.Errorf("node %d: no job %s after 30s: %v", i, j.ID, err)
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	slow := slices.Index(ds, slices.Max(ds))
	return slices.DeleteFunc(ds, func(d time.Duration) bool { return d < 0 }), slow, errors.Join(errs...)
}

// goTestLog runs one test of pkg and returns the submatches of pattern in its output.
func goTestLog(pkg, test, pattern string) ([]string, error) {
	out, err := exec.Command("go", "test", "-count=1", "-v", "-run", "^"+test+"$", pkg).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go test -run %s %s: %v: %s", test, pkg, err, lastLines(out, 5))
	}
	m := regexp.MustCompile(pattern).FindStringSubmatch(string(out))
	if m == nil {
		return nil, fmt.Errorf("go test -run %s %s: no line matching %q: %s", test, pkg, pattern, lastLines(out, 5))
	}
	return m[1:], nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// netLazy: a job on B reading 1 MiB at a random offset of a 1 GiB file held by A. What
// moved is counted as what A's process wrote meanwhile (/proc/PID/io wchar: its
// sockets, over TCP here, and its files): bitswap blocks plus heartbeats and the job
// record pull, an upper bound.
func (b *bench) netLazy() ([]row, error) {
	const size, n = 1 << 30, 1 << 20
	file := filepath.Join(b.work, "lazy.bin")
	if err := makeFile(file, size, "lazy"); err != nil {
		return nil, err
	}
	defer os.Remove(file)
	off := rand.Int64N(size - n)
	want, err := rangeSum(file, off, n)
	if err != nil {
		return nil, err
	}
	ns, err := b.startNet("lazy", "role=a", "role=b")
	defer stopNet(ns)
	if err != nil {
		return nil, err
	}
	a, nb := ns[0], ns[1]
	out, _, err := b.cli(a.proc, "data", "add", file)
	if err != nil {
		return nil, err
	}
	cid := strings.TrimSpace(out)
	os.Remove(file)
	// A first run on a small file of B's own compiles the module, which is B's own too.
	small := filepath.Join(b.work, "lazy-small.bin")
	if err := os.WriteFile(small, []byte("x"), 0o644); err != nil {
		return nil, err
	}
	out, _, err = b.cli(nb.proc, "data", "add", small)
	if err != nil {
		return nil, err
	}
	if _, _, err := b.cli(nb.proc, "wasm", "run", b.readat, "-i", strings.TrimSpace(out), "--", "0", "1"); err != nil {
		return nil, err
	}
	before, err := wchar(a.proc)
	if err != nil {
		return nil, err
	}
	out, d, err := b.cli(nb.proc, "wasm", "run", b.readat, "-i", cid, "-s", "role=b", "--", strconv.FormatInt(off, 10), strconv.Itoa(n))
	if err != nil {
		return nil, err
	}
	after, err := wchar(a.proc)
	if err != nil {
		return nil, err
	}
	if field(out, "State") != "completed" || !strings.Contains(out, want) {
		return nil, fmt.Errorf("readat job printed %q, want the SHA-256 %s", out, want)
	}
	moved := after - before
	if moved < n {
		return nil, fmt.Errorf("node A wrote only %d bytes while B read 1 MiB of its file: the transfer was not counted", moved)
	}
	rows := []row{{"lazy: 1 MiB at a random offset of a 1 GiB file on another node, bytes moved", fmt.Sprintf("%.2f MiB", float64(moved)/(1<<20)), "<= 2 MiB",
		fmt.Sprintf("all the holder wrote during the job (/proc/PID/io wchar); offset %d; job %s (warm)", off, ms(d))}}
	m, err := goTestLog("./blockstore/", "TestBitswapLazyReadAt", `1 MiB at (\d+) of (\d+): (\d+) bytes in (\d+) blocks`)
	if err != nil {
		return append(rows, row{"lazy (blockstore in-process test)", "ERROR", "", err.Error()}), nil
	}
	got, _ := strconv.ParseFloat(m[2], 64)
	return append(rows, row{"lazy: 1 MiB at a random offset of a 1 GiB file (blockstore in-process test)",
		fmt.Sprintf("%.2f MiB", got/(1<<20)), "<= 2 MiB", fmt.Sprintf("bitswap data received, %s blocks", m[3])}), nil
}

func rangeSum(path string, off int64, n int) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", sha256.Sum256(buf)), nil
}

// wchar reads the bytes the process has written (files, pipes and sockets).
func wchar(p *proc) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("no wchar in /proc/%d/io", p.cmd.Process.Pid)
}

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// interop: the issue-14 figures, each against kubo in the same run. kubo fetching a
// 256 MiB file from our node and our node fetching it from kubo, both against kubo to
// kubo `ipfs pin add`; our gateway against kubo's on the same file (one client
// reading it whole), and on a 4 KiB file with 16 connections (wrk).
func (b *bench) interop() ([]row, error) {
	const size, runs = 256 << 20, 3
	big := filepath.Join(b.work, "io-big.bin")
	if err := makeFile(big, size, "interop"); err != nil {
		return nil, err
	}
	small := filepath.Join(b.work, "io-small.bin")
	if err := makeFile(small, 4096, "interop-small"); err != nil {
		return nil, err
	}
	gw := freePortBench()
	a, err := b.serveNet(b.repo("io-a"), "--gateway-port", strconv.Itoa(gw))
	if err != nil {
		return nil, err
	}
	defer a.stop()
	var cids [2]string
	for i, p := range []string{big, small} {
		out, _, err := b.cli(a.proc, "data", "add", p)
		if err != nil {
			return nil, err
		}
		cids[i] = strings.TrimSpace(out)
	}

	k := &kuboNet{}
	defer k.stop()
	if k.bin, err = exec.LookPath("ipfs"); err != nil {
		return nil, fmt.Errorf("no ipfs on PATH (make kubo builds one)")
	}
	kgw := freePortBench()
	for i := range 2 {
		k.repos = append(k.repos, b.repo(fmt.Sprintf("io-kubo-%d", i)))
		for _, args := range [][]string{
			{"init", "--profile=test"}, {"config", "Routing.Type", "none"},
			{"config", "Addresses.Gateway", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", kgw)},
		} {
			if _, _, err := k.ipfs(i, args...); err != nil {
				return nil, err
			}
		}
		p, err := k.daemon(i)
		if err != nil {
			return nil, err
		}
		k.procs = append(k.procs, p)
		kgw = freePortBench() // the second daemon's gateway is not used
	}
	kgw0 := gatewayPort(k)
	for i, p := range []string{big, small} {
		c, _, err := k.ipfs(0, "add", "-Q", "--cid-version=1", p)
		if err != nil {
			return nil, err
		}
		if c = strings.TrimSpace(c); c != cids[i] {
			return nil, fmt.Errorf("kubo's CID %s, ours %s", c, cids[i])
		}
	}
	addrs, _, err := k.ipfs(0, "id", "-f", "<addrs>")
	if err != nil {
		return nil, err
	}
	k0, _, _ := strings.Cut(strings.TrimSpace(addrs), "\n")

	aAll, k0All := "/p2p/"+a.id, k0[strings.LastIndex(k0, "/p2p/"):]
	var fromUs, fromKubo, kuboKubo []time.Duration
	for r := range runs {
		fmt.Fprintf(os.Stderr, "bench: interop run %d\n", r)
		// kubo 1 fetches from our node only, then from kubo 0 only.
		k.ipfs(1, "swarm", "disconnect", k0All) // every connection, whatever its transport
		if _, _, err := k.ipfs(1, "swarm", "connect", a.addr); err != nil {
			return nil, err
		}
		d, err := pinWithin(k, cids[0])
		if err != nil {
			return nil, fmt.Errorf("kubo fetching from our node: %w", err)
		}
		fromUs = append(fromUs, d)
		k.ipfs(1, "swarm", "disconnect", aAll)
		if _, _, err := k.ipfs(1, "swarm", "connect", k0); err != nil {
			return nil, err
		}
		if d, err = pinWithin(k, cids[0]); err != nil {
			return nil, fmt.Errorf("kubo fetching from kubo: %w", err)
		}
		kuboKubo = append(kuboKubo, d)
		k.ipfs(1, "swarm", "disconnect", k0All)

		// A fresh node of ours peered with kubo 0 fetches the file from it.
		repo := b.repo(fmt.Sprintf("io-b-%d", r))
		nb, err := b.serveNet(repo, "--ipfs-peer", k0)
		if err != nil {
			return nil, err
		}
		dst := filepath.Join(b.work, fmt.Sprintf("io-get-%d", r))
		_, d, err = b.cli(nb.proc, "data", "get", cids[0], "-o", dst)
		nb.stop()
		os.RemoveAll(repo)
		os.RemoveAll(dst)
		if err != nil {
			return nil, err
		}
		fromKubo = append(fromKubo, d)
	}
	kk := mbps(size, median(kuboKubo))
	us, them := mbps(size, median(fromUs)), mbps(size, median(fromKubo))
	rows := []row{
		{"kubo to kubo: ipfs pin add 256 MiB (median of 3)", fmt.Sprintf("%.0f MB/s", kk), "", "runs " + each(kuboKubo)},
		{"kubo fetches 256 MiB from our node (pin add): vs kubo to kubo", fmt.Sprintf("%.2fx (%.0f MB/s)", us/kk, us), ">= 1.0x", "runs " + each(fromUs)},
		{"our node fetches 256 MiB from kubo (data get, fresh node): vs kubo to kubo", fmt.Sprintf("%.2fx (%.0f MB/s)", them/kk, them), ">= 1.0x", "ours writes the file out too; runs " + each(fromKubo)},
	}

	// Gateways: the 256 MiB file read whole by one client, alternating ours and kubo's.
	ours := fmt.Sprintf("http://127.0.0.1:%d/ipfs/", gw)
	theirs := fmt.Sprintf("http://127.0.0.1:%d/ipfs/", kgw0)
	var og, kg []time.Duration
	for range runs {
		for _, u := range []string{ours, theirs} {
			d, err := download(u+cids[0], size)
			if err != nil {
				return nil, err
			}
			if u == ours {
				og = append(og, d)
			} else {
				kg = append(kg, d)
			}
		}
	}
	o, kb := mbps(size, median(og)), mbps(size, median(kg))
	rows = append(rows,
		row{"gateway: 256 MiB file, one client: ours vs kubo's", fmt.Sprintf("%.2fx (%.0f vs %.0f MB/s)", o/kb, o, kb), ">= 1.0x", "runs " + each(og) + " vs " + each(kg)},
	)
	if _, err := exec.LookPath("wrk"); err != nil {
		return append(rows, row{"gateway req/s (wrk)", "not measured", "", "no wrk on PATH (apt-get install wrk)"}), nil
	}
	orps, err := wrkGateway(ours + cids[1])
	if err != nil {
		return nil, err
	}
	krps, err := wrkGateway(theirs + cids[1])
	if err != nil {
		return nil, err
	}
	return append(rows, row{"gateway: 4 KiB file, 16 connections (wrk, 5 s): ours vs kubo's", fmt.Sprintf("%.2fx (%.0f vs %.0f req/s)", orps/krps, orps, krps), ">= 1.0x", ""}), nil
}

// pinWithin is kuboNet.pin bounded to three minutes, so a stalled fetch is an error.
func pinWithin(k *kuboNet, cid string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, d, err := k.ipfsCtx(ctx, 1, "pin", "add", "--progress=false", cid)
	if err != nil {
		w, _, _ := k.ipfs(1, "bitswap", "wantlist")
		p, _, _ := k.ipfs(1, "swarm", "peers")
		return 0, fmt.Errorf("pin add %s: %v (still wanted: %s; peers: %s)", cid, err, strings.TrimSpace(w), strings.TrimSpace(p))
	}
	if _, _, err := k.ipfs(1, "pin", "rm", cid); err != nil {
		return 0, err
	}
	_, _, err = k.ipfs(1, "repo", "gc", "-q")
	return d, err
}

// serveNet starts a node with extra flags and reads its peer ID and TCP address.
func (b *bench) serveNet(repo string, extra ...string) (*netNode, error) {
	p, err := b.serve(repo, extra...)
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
		return nil, fmt.Errorf("node %s has no TCP address", info.ID)
	}
	return n, nil
}

// gatewayPort is the port of the first kubo daemon's gateway, from its config.
func gatewayPort(k *kuboNet) int {
	out, _, _ := k.ipfs(0, "config", "Addresses.Gateway")
	i := strings.LastIndex(out, "/")
	port, _ := strconv.Atoi(strings.TrimSpace(out[i+1:]))
	return port
}

func freePortBench() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// download reads url whole and checks its length.
func download(url string, want int64) (time.Duration, error) {
	start := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || resp.StatusCode != 200 || n != want {
		return 0, fmt.Errorf("GET %s: %d, %d bytes (want %d), %v", url, resp.StatusCode, n, want, err)
	}
	return time.Since(start), nil
}

var wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// wrk runs wrk with 16 connections for 5 s against url and returns its requests/s.
func wrkGateway(url string) (float64, error) {
	out, err := exec.Command("wrk", "-t2", "-c16", "-d5s", url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk: %v: %s", err, out)
	}
	if strings.Contains(string(out), "Non-2xx") {
		return 0, fmt.Errorf("wrk %s: non-2xx answers: %s", url, out)
	}
	m := wrkRate.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("wrk printed no rate: %s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

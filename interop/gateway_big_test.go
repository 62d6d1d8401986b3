package interop

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// rss is the resident set of process pid, in bytes.
func rss(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestGatewayStreamsOneGiB: a 1 GiB file goes through the gateway whole and intact
// (the same SHA-256) while the node's RSS stays flat (it streams; it never holds the
// file).
func TestGatewayStreamsOneGiB(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB: not with -short")
	}
	const size = 1 << 30
	n := startNode(t)
	path := filepath.Join(t.TempDir(), "big.bin")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	sent := sha256.New()
	for i := range size / len(buf) {
		for j := range buf {
			buf[j] = byte(i + j*31)
		}
		sent.Write(buf)
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	c := n.ok("data", "add", path)
	os.Remove(path)
	pid := n.p.cmd.Process.Pid
	before := rss(t, pid)

	resp, err := http.Get(n.gateway() + "/ipfs/" + c)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
	peak := before
	var got int64
	chunk := make([]byte, 1<<20)
	recv := sha256.New()
	for i := 0; ; i++ {
		k, err := resp.Body.Read(chunk)
		got += int64(k)
		recv.Write(chunk[:k])
		if i%64 == 0 {
			peak = max(peak, rss(t, pid))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if got != size {
		t.Fatalf("read %d bytes, want %d", got, size)
	}
	if !bytes.Equal(recv.Sum(nil), sent.Sum(nil)) {
		t.Fatal("the gateway served 1 GiB other than the file added")
	}
	const bound = 128 << 20
	if peak-before > bound {
		t.Fatalf("node RSS grew by %d MiB streaming 1 GiB (from %d MiB), want under %d MiB", (peak-before)>>20, before>>20, bound>>20)
	}
	t.Logf("RSS %d MiB before, peak %d MiB while streaming 1 GiB", before>>20, peak>>20)
}

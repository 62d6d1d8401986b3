package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
)

// TestDownloadMissingBlock: data get and car export of a DAG one of whose blocks no
// node has fail within the stall timeout, naming that block, instead of hanging with no
// response headers.
func TestDownloadMissingBlock(t *testing.T) {
	n := startNode(t)
	file := filepath.Join(t.TempDir(), "big.bin")
	must(t, makeBigFile(file, 1<<20+5)) // five raw leaves under one root
	root := strings.TrimSpace(n.ok("data", "add", file))
	full := filepath.Join(t.TempDir(), "full.car")
	n.ok("data", "car", "export", root, "-o", full)

	// The same DAG without its second leaf, on a node of its own.
	f, err := os.Open(full)
	must(t, err)
	defer f.Close()
	br, err := carv2.NewBlockReader(f)
	must(t, err)
	var car bytes.Buffer
	writeCARHeader(&car, br.Roots[0])
	var missing cid.Cid
	for i := 0; ; i++ {
		b, err := br.Next()
		if err != nil {
			break
		}
		if b.Cid().Prefix().Codec == cid.Raw && !missing.Defined() {
			missing = b.Cid()
			continue
		}
		sec := append(b.Cid().Bytes(), b.RawData()...)
		car.Write(binary.AppendUvarint(nil, uint64(len(sec))))
		car.Write(sec)
	}
	if !missing.Defined() {
		t.Fatal("no raw leaf in the CAR")
	}
	partial := filepath.Join(t.TempDir(), "partial.car")
	must(t, os.WriteFile(partial, car.Bytes(), 0o644))
	m := startNode(t, "--fetch-stall-timeout", "2s")
	if got := strings.TrimSpace(m.ok("data", "car", "import", partial)); got != root {
		t.Fatalf("import of the partial CAR: %q", got)
	}
	for _, args := range [][]string{
		{"data", "get", root, "-o", filepath.Join(t.TempDir(), "out")},
		{"data", "car", "export", root, "-o", filepath.Join(t.TempDir(), "x.car")},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var out, errb bytes.Buffer
		code := run(ctx, append([]string{"--api-port", itoa(m.port)}, args...), nil, &out, &errb)
		hung := ctx.Err() != nil
		cancel()
		if hung {
			t.Fatalf("bacalhau %s hung", strings.Join(args, " "))
		}
		if code == 0 || !strings.Contains(errb.String(), missing.String()) || !strings.Contains(errb.String(), "not found") {
			t.Fatalf("bacalhau %s: exit %d, stderr %q; want an error naming %s", strings.Join(args, " "), code, errb.String(), missing)
		}
	}
}

// writeCARHeader writes a CARv1 header with one root (dag-cbor {roots: [root], version: 1}).
func writeCARHeader(w *bytes.Buffer, root cid.Cid) {
	var h []byte
	h = append(h, 0xa2)                                          // map of 2
	h = append(h, 0x65, 'r', 'o', 'o', 't', 's')                 // "roots"
	h = append(h, 0x81, 0xd8, 0x2a)                              // [ tag 42
	cb := append([]byte{0}, root.Bytes()...)                     // CID link bytes: a 0 prefix
	h = append(h, 0x58, byte(len(cb)))                           // bytes(len)
	h = append(h, cb...)                                         // ]
	h = append(h, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x01) // "version": 1
	w.Write(binary.AppendUvarint(nil, uint64(len(h))))
	w.Write(h)
}

package blockstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"
	mh "github.com/multiformats/go-multihash"
)

// carHeader returns a CARv1 header naming roots, with no blocks.
func carHeader(t testing.TB, roots ...cid.Cid) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := storage.NewWritable(&buf, roots, carv2.WriteAsCarV1(true))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Finalize(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// carSection frames one section: uvarint length, then CID and data.
func carSection(c []byte, data []byte) []byte {
	out := binary.AppendUvarint(nil, uint64(len(c)+len(data)))
	return append(append(out, c...), data...)
}

func rawCID(data []byte) cid.Cid {
	c, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: -1}.Sum(data)
	return c
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// Every way a CAR can be broken gets its own message; only a real hash mismatch is
// ErrBadBlock ("block X does not match its CID"), the framing errors are ErrBadCAR. A
// bad CAR stores nothing.
func TestImportCARErrors(t *testing.T) {
	tree, err := os.ReadFile(filepath.Join(unixfsDir, "tree.car"))
	if err != nil {
		t.Fatal(err)
	}
	roots, blocks, order := carBlocks(t, tree)
	lastData := blocks[order[len(order)-1]]
	flipped := bytes.Clone(tree)
	flipped[bytes.LastIndex(flipped, lastData)+len(lastData)-1] ^= 0xff

	good := []byte("a block")
	gc := rawCID(good)
	hdr := carHeader(t, gc)
	other := rawCID([]byte("not in the CAR"))
	md5, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.MD5, MhLength: -1}.Sum(good)

	cases := []struct {
		name string
		car  []byte
		want error
		msg  string
	}{
		{"empty input", nil, ErrBadCAR, "the CAR ends in its header after 0 bytes"},
		{"garbage header", []byte("\x05hello, not a CAR"), ErrBadCAR, "bad CAR header"},
		{"text", []byte("this is not a CAR at all, just some text"), ErrBadCAR, "the CAR ends in its header after 40 bytes"},
		{"header cut short", tree[:7], ErrBadCAR, "the CAR ends in its header after 7 bytes"},
		{"version 3", append(binary.AppendUvarint(nil, 10), 0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x03), ErrBadCAR, "bad CAR header"},
		{"section cut short", tree[:len(tree)-10], ErrBadCAR, fmt.Sprintf("the CAR ends in the middle of a block after %d bytes", len(tree)-10)},
		{"section length cut short", cat(hdr, []byte{0x80}), ErrBadCAR, fmt.Sprintf("the CAR ends in the middle of a block after %d bytes", len(hdr)+1)},
		{"oversized section", cat(hdr, binary.AppendUvarint(nil, 1<<40), gc.Bytes(), good), ErrBadCAR, "declares a section of 1099511627776 bytes, over the limit"},
		{"block over 2 MiB", cat(hdr, carSection(gc.Bytes(), make([]byte, MaxCARBlockSize+1))), ErrBadCAR, "over the limit"},
		{"empty section", cat(hdr, []byte{0}), ErrBadCAR, "empty section"},
		{"invalid CID", cat(hdr, carSection([]byte{0xff, 0xff, 0xff, 0x01, 0x02}, good)), ErrBadCAR, fmt.Sprintf("section at byte %d: invalid CID", len(hdr))},
		{"hash mismatch", flipped, ErrBadBlock, fmt.Sprintf("block %s does not match its CID", order[len(order)-1])},
		{"disallowed hash", cat(carHeader(t, md5), carSection(md5.Bytes(), good)), ErrBadBlock, "not allowed"},
		{"root not in the CAR", cat(carHeader(t, other), carSection(gc.Bytes(), good)), ErrBadCAR, fmt.Sprintf("root %s is not in the CAR", other)},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openTemp(t)
			got, err := s.ImportCAR(ctx, bytes.NewReader(c.car))
			t.Logf("%v", err)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("ImportCAR = %v, %v; want %v saying %q", got, err, c.want, c.msg)
			}
			if c.want == ErrBadCAR && errors.Is(err, ErrBadBlock) {
				t.Errorf("a framing error is called a hash mismatch: %v", err)
			}
			if len(err.Error()) > 300 {
				t.Errorf("error of %d bytes: %.300s", len(err.Error()), err)
			}
			for _, b := range append(order, gc, roots[0]) {
				if ok, _ := s.Has(ctx, b); ok {
					t.Errorf("block %s stored from a bad CAR", b)
				}
			}
		})
	}
}

// A root that is not in the CAR but already held is accepted, as kubo's dag import
// pins a root it finds in its blockstore; a CAR without roots is accepted too. CARv2
// (with its index after the data) imports like CARv1.
func TestImportCARRootsAndV2(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	good := []byte("a block")
	gc := rawCID(good)
	held, err := s.AddFile(ctx, bytes.NewReader([]byte("held already")), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := s.ImportCAR(ctx, bytes.NewReader(cat(carHeader(t, held.CID), carSection(gc.Bytes(), good))))
	if err != nil || len(roots) != 1 || roots[0] != held.CID {
		t.Fatalf("a held root: %v, %v", roots, err)
	}
	if ok, _ := s.Has(ctx, gc); !ok {
		t.Fatal("the block was not stored")
	}
	if roots, err := s.ImportCAR(ctx, bytes.NewReader(carHeader(t))); err != nil || len(roots) != 0 {
		t.Fatalf("no roots: %v, %v", roots, err)
	}

	v1, err := os.ReadFile(filepath.Join(unixfsDir, "tree.car"))
	if err != nil {
		t.Fatal(err)
	}
	var v2 bytes.Buffer
	if err := carv2.WrapV1(bytes.NewReader(v1), &v2); err != nil {
		t.Fatal(err)
	}
	wantRoots, _, order := carBlocks(t, v1)
	s2 := openTemp(t)
	roots, err = s2.ImportCAR(ctx, bytes.NewReader(v2.Bytes()))
	if err != nil || len(roots) != 1 || roots[0] != wantRoots[0] {
		t.Fatalf("CARv2: %v, %v; want %v", roots, err, wantRoots)
	}
	for _, c := range order {
		if ok, _ := s2.Has(ctx, c); !ok {
			t.Errorf("CARv2: %s not stored", c)
		}
	}
	// A CARv2 whose data ends in the middle of a section is cut short, not read into
	// its index.
	b := v2.Bytes()
	cut := bytes.Clone(b)
	binary.LittleEndian.PutUint64(cut[11+16+8:], binary.LittleEndian.Uint64(b[11+16+8:])-10) // data size
	if _, err := openTemp(t).ImportCAR(ctx, bytes.NewReader(cut)); !errors.Is(err, ErrBadCAR) || !strings.Contains(err.Error(), "ends in the middle of a block") {
		t.Fatalf("CARv2 with a short data size: %v", err)
	}
}

// FuzzImportCAR: any byte string either imports (every root is then held) or fails
// with ErrBadCAR or ErrBadBlock; it never panics and never fails otherwise.
func FuzzImportCAR(f *testing.F) {
	for _, name := range []string{"tree.car", "hello.car"} {
		b, err := os.ReadFile(filepath.Join(unixfsDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		var v2 bytes.Buffer
		if err := carv2.WrapV1(bytes.NewReader(b), &v2); err != nil {
			f.Fatal(err)
		}
		f.Add(v2.Bytes())
	}
	good := []byte("a block")
	gc := rawCID(good)
	hdr := carHeader(f, gc)
	f.Add(cat(hdr, carSection(gc.Bytes(), good)))
	f.Add(cat(hdr, []byte{0}))
	f.Add(cat(hdr, binary.AppendUvarint(nil, 1<<40)))
	f.Add(cat(hdr, carSection([]byte{0xff, 0xff, 0x01}, good)))
	f.Add([]byte{})
	s, err := Open(f.TempDir(), Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, car []byte) {
		roots, err := s.ImportCAR(ctx, bytes.NewReader(car))
		if err != nil {
			if !errors.Is(err, ErrBadCAR) && !errors.Is(err, ErrBadBlock) {
				t.Fatalf("an error that is neither ErrBadCAR nor ErrBadBlock: %v", err)
			}
			return
		}
		for _, r := range roots {
			if ok, err := s.Has(ctx, r); !ok || err != nil {
				t.Fatalf("root %s imported but not held: %v", r, err)
			}
		}
	})
}

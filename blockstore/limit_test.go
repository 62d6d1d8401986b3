package blockstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestMaxSize: a write that would pass the limit first collects unpinned
// data and goes ahead if that made room; one that still does not fit fails
// with ErrRepoFull, naming the limit and not the directory, and leaves
// nothing a GC cannot reclaim.
func TestMaxSize(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := mustStat(t, s).DiskBytes
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	limit := base + 16<<20
	s, err = Open(dir, Options{MaxSize: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pinned := genBytes("max-pinned", 6<<20)
	ep := addBytes(t, s, ctx, pinned, ProfileV1)
	mustPin(t, s, ep.CID, PinInfo{Kind: PinData})
	junk := addBytes(t, s, ctx, genBytes("max-junk", 6<<20), ProfileV1)
	junkBlocks := allBlocks(t, s, junk.CID)

	// 6 + 6 + 6 MiB is past 16 MiB: the junk goes, the new file fits.
	more := genBytes("max-more", 6<<20)
	em := addBytes(t, s, ctx, more, ProfileV1)
	noneLeft(t, s, "unpinned file before the limit was hit", junkBlocks)
	for _, c := range []struct {
		e    Entry
		data []byte
	}{{ep, pinned}, {em, more}} {
		if got := readFileFS(t, s, c.e.CID); !bytes.Equal(got, c.data) {
			t.Errorf("%s differs", c.e.CID)
		}
	}
	mustPin(t, s, em.CID, PinInfo{Kind: PinData})

	_, err = s.AddFile(ctx, bytes.NewReader(genBytes("max-too-big", 8<<20)), ProfileV1)
	if !errors.Is(err, ErrRepoFull) {
		t.Fatalf("add past the limit: %v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "of its "+humanBytes(limit)+" limit used") || strings.Contains(msg, dir) {
		t.Errorf("message %q: want the limit %s named and no path", msg, humanBytes(limit))
	}
	mustGC(t, s, GCOptions{MinDeadFraction: minDeadAny})
	st := mustStat(t, s)
	if st.PackDeadBytes != 0 || st.PackBytes != 12<<20 || st.DiskBytes > limit || st.MaxSize != limit {
		t.Errorf("after the refused write and a GC: %+v", st)
	}
	// Small writes still fit.
	addBytes(t, s, ctx, genBytes("max-small", 1000), ProfileV1)
}

// TestDiskFull: a pack write that runs out of space (here: half written,
// then ENOSPC) fails with ErrDiskFull and no host path, and leaves no bytes
// a GC cannot give back.
func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	kept := genBytes("full-kept", 2<<20)
	ek := addBytes(t, s, ctx, kept, ProfileV1)
	mustPin(t, s, ek.CID, PinInfo{Kind: PinData})
	defer func() { packWriteAt = func(f *os.File, b []byte, off int64) (int, error) { return f.WriteAt(b, off) } }()
	packWriteAt = func(f *os.File, b []byte, off int64) (int, error) {
		n, _ := f.WriteAt(b[:len(b)/2], off)
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	_, err = s.AddFile(ctx, bytes.NewReader(genBytes("full-lost", 40<<20)), ProfileV1)
	if !errors.Is(err, ErrDiskFull) || strings.Contains(err.Error(), dir) {
		t.Fatalf("add on a full disk: %v", err)
	}
	if st := mustStat(t, s); st.PackBytes != 2<<20 {
		t.Errorf("after the failed write: %+v, want the torn tail cut off", st)
	}
	packWriteAt = func(f *os.File, b []byte, off int64) (int, error) { return f.WriteAt(b, off) }
	mustGC(t, s, GCOptions{MinDeadFraction: minDeadAny})
	if st := mustStat(t, s); st.PackDeadBytes != 0 || st.PackBytes != 2<<20 {
		t.Errorf("after GC: %+v", st)
	}
	again := genBytes("full-again", 3<<20)
	e := addBytes(t, s, ctx, again, ProfileV1)
	if got := readFileFS(t, s, e.CID); !bytes.Equal(got, again) {
		t.Error("write after the disk-full error differs")
	}
	if got := readFileFS(t, s, ek.CID); !bytes.Equal(got, kept) {
		t.Error("pinned file differs")
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1 KiB", 10 << 30: "10 GiB",
		9<<30 + 860<<20: "9.8 GiB", 512 << 20: "512 MiB", 1536: "1.5 KiB",
	} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestOpenRemovesStaging: CAR staging files an interrupted import left are
// deleted when the store opens (they count against MaxSize otherwise).
func TestOpenRemovesStaging(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	stale := dir + "/import-12345.tmp"
	if err := os.WriteFile(stale, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale staging file: %v", err)
	}
}

// TestDiskReserve: when the disk has less free space than a write plus
// diskReserve, the write fails with ErrDiskFull before anything reaches
// pebble (whose log treats ENOSPC as fatal) or a pack.
func TestDiskReserve(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	kept := genBytes("reserve-kept", 1<<20)
	ek := addBytes(t, s, ctx, kept, ProfileV1)
	mustPin(t, s, ek.CID, PinInfo{Kind: PinData}) // the refused write runs a GC first
	before := mustStat(t, s)
	defer func() { freeBytes = statfsFree }()
	freeBytes = func(string) (int64, bool) { return diskReserve + 1<<20, true }
	s.size.reset()
	if _, err := s.AddFile(ctx, bytes.NewReader(genBytes("reserve-big", 4<<20)), ProfileV1); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("add with 1 MiB above the reserve free: %v", err)
	}
	if st := mustStat(t, s); st.PackBytes != before.PackBytes {
		t.Errorf("refused write reached the pack: %+v", st)
	}
	freeBytes = statfsFree
	s.size.reset()
	if got := readFileFS(t, s, ek.CID); !bytes.Equal(got, kept) {
		t.Error("file differs")
	}
	addBytes(t, s, ctx, genBytes("reserve-after", 2<<20), ProfileV1)
}

package blockstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// TestGCReclaimsCrashGarbage: the directory copied at the worst moment of
// an import (a pack chunk written and synced, its index not committed), as
// TestPackCrash does, opens with dead bytes in its pack; GC gives them
// back and keeps the pinned file.
func TestGCReclaimsCrashGarbage(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old := genBytes("crashgc-old", 3<<20)
	eOld := addBytes(t, s, ctx, old, ProfileV1)
	mustPin(t, s, eOld.CID, PinInfo{Kind: PinData})
	snap := t.TempDir()
	var once sync.Once
	testHookPackWritten = func() {
		once.Do(func() {
			if err := os.CopyFS(snap, os.DirFS(dir)); err != nil {
				t.Error(err)
			}
		})
	}
	addBytes(t, s, ctx, genBytes("crashgc-lost", 5<<20), ProfileV1)
	testHookPackWritten = nil

	s2, err := Open(snap, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	st := mustStat(t, s2)
	if st.PackDeadBytes != 5<<20 || st.PackLiveBytes != 3<<20 {
		t.Fatalf("snapshot before GC: %+v, want 5 MiB dead", st)
	}
	res := mustGC(t, s2, GCOptions{})
	if res.PackBytesFreed != 5<<20 {
		t.Errorf("GC freed %d pack bytes, want 5 MiB: %+v", res.PackBytesFreed, res)
	}
	if st := mustStat(t, s2); st.PackDeadBytes != 0 || st.PackBytes != 3<<20 {
		t.Errorf("snapshot after GC: %+v", st)
	}
	if got := readFileFS(t, s2, eOld.CID); !bytes.Equal(got, old) {
		t.Error("pinned file differs after GC")
	}
	verifyDAG(t, s2, eOld.CID)
}

// gcKillEnv names the store directory of the child process that
// TestGCAfterKill kills.
const gcKillEnv = "BLOCKSTORE_GC_KILL_DIR"

// TestGCKillChild is the child of TestGCAfterKill: it adds a large file and
// stops for good (printing "ready") when its second pack chunk is on disk
// and not yet indexed. It does nothing when run on its own.
func TestGCKillChild(t *testing.T) {
	dir := os.Getenv(gcKillEnv)
	if dir == "" {
		return
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	chunks := 0
	testHookPackWritten = func() {
		if chunks++; chunks == 2 {
			os.Stdout.WriteString("ready\n")
			select {} // wait for SIGKILL
		}
	}
	_, err = s.AddFile(context.Background(), bytes.NewReader(genBytes("killed", 100<<20)), ProfileV1)
	t.Fatalf("add returned: %v", err)
}

// TestGCAfterKill kills (SIGKILL) a process in the middle of a 100 MiB add,
// right after it wrote its second 32 MiB chunk: the first chunk is indexed,
// the second is not. After a restart, one GC gives back all of it and keeps
// what was pinned before.
func TestGCAfterKill(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	kept := genBytes("kill-kept", 2<<20+11)
	eKept := addBytes(t, s, ctx, kept, ProfileV1)
	mustPin(t, s, eKept.CID, PinInfo{Kind: PinData})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestGCKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), gcKillEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q: %v", line, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := mustStat(t, s)
	if st.PackBytes != 2<<20+64<<20 || st.PackDeadBytes < 32<<20 {
		t.Fatalf("after the kill: %+v, want 64 MiB of the add in the pack, at least 32 MiB dead", st)
	}
	t.Logf("after kill -9: %d MiB in packs, %d MiB dead (index entries of the first chunk survived: %v)",
		st.PackBytes>>20, st.PackDeadBytes>>20, st.PackDeadBytes < 64<<20)
	res := mustGC(t, s, GCOptions{})
	st = mustStat(t, s)
	if st.PackBytes != 2<<20 || st.PackDeadBytes != 0 {
		t.Errorf("after GC: %+v (GC %+v)", st, res)
	}
	if got := readFileFS(t, s, eKept.CID); !bytes.Equal(got, kept) {
		t.Error("pinned file differs")
	}
}

// TestGCTornPack: a pack shorter than its index says (bytes lost under a
// pinned file) does not stop a GC: compaction keeps what it can read and
// drops the entries it cannot, so the lost block reads as not found (and a
// fetch from a peer can replace it) instead of as a short read forever.
func TestGCTornPack(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := genBytes("torn-a", 1<<20), genBytes("torn-b", 1<<20)
	ea := addBytes(t, s, ctx, a, ProfileV1)
	addBytes(t, s, ctx, genBytes("torn-junk", 1<<20), ProfileV1)
	eb := addBytes(t, s, ctx, b, ProfileV1)
	mustPin(t, s, ea.CID, PinInfo{Kind: PinData})
	mustPin(t, s, eb.CID, PinInfo{Kind: PinData})
	lost := leavesOf(t, s, eb.CID)[3]
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(packPath(dir, 1), 3<<20-1000); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res := mustGC(t, s, GCOptions{})
	if res.Unreadable != 1 || res.PacksCompacted != 1 {
		t.Errorf("GC of a torn pack: %+v", res)
	}
	if got := readFileFS(t, s, ea.CID); !bytes.Equal(got, a) {
		t.Error("intact pinned file differs")
	}
	if _, err := s.Blocks().GetBlock(ctx, lost); !errors.Is(err, ErrNotFound) {
		t.Errorf("lost leaf: %v, want not found", err)
	}
	if st := mustStat(t, s); st.PackBytes != 2<<20-256<<10 || st.PackDeadBytes != 0 {
		t.Errorf("after GC: %+v", st)
	}
}

func packPath(dir string, id uint32) string {
	return filepath.Join(dir, packDirName, packName(id))
}

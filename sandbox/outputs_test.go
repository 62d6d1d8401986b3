package sandbox

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// outputsUsage is what dir holds by the measure of the outputs limit: the
// bytes of its files (each inode once) and wasi.OutputsEntryCost for every
// entry.
func outputsUsage(t *testing.T, dir string) (usage int64, entries int) {
	t.Helper()
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		entries++
		usage += wasi.OutputsEntryCost
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && info.Mode().IsRegular() && !seen[st.Ino] {
			seen[st.Ino] = true
			usage += info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return usage, entries
}

func TestOutputsLimit(t *testing.T) {
	const limit = 1 << 20
	const full = "No space left on device" // ENOSPC, as Go for wasip1 words it
	tests := []struct {
		name    string
		cmds    []string
		hit     bool
		stderr  string // what the guest says, when it fails
		entries int    // how many entries are left, or -1 for any
	}{
		{"fill", []string{"fill:a:65536"}, true, "fill:a:65536: after 960 KiB: write /outputs/a: " + full, 1},
		{"empty files", []string{"files:f:1000"}, true, "files:f:1000: after 256 files: open /outputs/f256: " + full, 256},
		{"sparse", []string{"pwrite:s:2048:64"}, true, "pwrite:s:2048:64: after 0 KiB: write /outputs/s: " + full, 1},
		{"directories", []string{"mkdir:d", "files:d/f:300"}, true, "files:d/f:300: after 255 files: open /outputs/d/f255: " + full, 256},
		{"exactly the limit", []string{"write:a:1020"}, false, "", 1},
		{"one byte more", []string{"write:a:1020", "append:a:1"}, true, "append:a:1: after 0 KiB: write /outputs/a: " + full, 1},
		{"bytes given back", []string{
			"write:a:600", "rm:a", // unlink
			"write:b:600", "trunc:b:0", // truncate down
			"write:c:600", "mv:c:b", // rename over a file
			"write:b:600",                                // truncate on open
			"mkdir:d", "write:d/e:300", "rm:d/e", "rm:d", // rmdir
			"write:e:300", "append:b:64",
		}, false, "", 2},
		{"a hard link keeps the bytes", []string{"write:a:600", "link:a:l", "rm:a", "write:b:600"},
			true, "write:b:600: after 384 KiB: write /outputs/b: " + full, 2},
	}
	s := newSandbox(t, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task, stdout, stderr := guestTask(t, "outfill", tt.cmds...)
			dir := t.TempDir()
			task.WASI.OutputsDir, task.WASI.OutputsLimit = dir, limit
			res := run(t, s, task)
			usage, entries := outputsUsage(t, dir)
			t.Logf("Run() = %+v, stderr %q, %d entries, %d KiB used", res, stderr, entries, usage>>10)
			if usage > limit {
				t.Errorf("/outputs holds %d KiB (with %d entries), over the limit of %d KiB", usage>>10, entries, limit>>10)
			}
			if tt.entries >= 0 && entries != tt.entries {
				t.Errorf("/outputs holds %d entries, want %d", entries, tt.entries)
			}
			if !tt.hit {
				if res != (Result{}) || stdout.String() != "ok\n" {
					t.Errorf("Run() = %+v, stdout %q, stderr %q; want success", res, stdout, stderr)
				}
				return
			}
			want := Result{ExitCode: 1, Reason: "outputs limit of 1 MiB exceeded", OutputsLimitHit: true}
			if res != want || strings.TrimSpace(stderr.String()) != tt.stderr {
				t.Errorf("Run() = %+v, stderr %q; want %+v, %q", res, stderr, want, tt.stderr)
			}
		})
	}
}

// TestOutputsLimitCountsWhatIsThere: files already in the outputs
// directory count against the limit.
func TestOutputsLimitCountsWhatIsThere(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "old"), make([]byte, 900<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newSandbox(t, Options{})
	task, _, stderr := guestTask(t, "outfill", "write:new:200")
	task.WASI.OutputsDir, task.WASI.OutputsLimit = dir, 1<<20
	res := run(t, s, task)
	if !res.OutputsLimitHit || !strings.Contains(stderr.String(), "No space left on device") {
		t.Errorf("Run() = %+v, stderr %q; want the limit hit", res, stderr)
	}
	task, stdout, _ := guestTask(t, "outfill", "rm:old", "write:new:200")
	task.WASI.OutputsDir, task.WASI.OutputsLimit = dir, 1<<20
	if res := run(t, s, task); res != (Result{}) || stdout.String() != "ok\n" {
		t.Errorf("after removing the old file: Run() = %+v, %q", res, stdout)
	}
}

// TestOutputsLimitDefault: OutputsLimit 0 is wasi.DefaultOutputsLimit, and
// the guest runs as before below it.
func TestOutputsLimitDefault(t *testing.T) {
	s := newSandbox(t, Options{})
	task, stdout, _ := guestTask(t, "outfill", "write:a:4096")
	task.WASI.OutputsDir = t.TempDir()
	if res := run(t, s, task); res != (Result{}) || stdout.String() != "ok\n" {
		t.Fatalf("Run() = %+v, %q", res, stdout)
	}
	if wasi.DefaultOutputsLimit != 1<<30 {
		t.Errorf("DefaultOutputsLimit = %d", wasi.DefaultOutputsLimit)
	}
}

// TestWritableMountCountsAgainstOutputsLimit: what a guest changes in a
// copy-on-write mount (the bytes of the files it copies up, the entries it
// makes or hides) counts against the outputs limit with /outputs, and is
// refused with ENOSPC past it; the input is never changed.
func TestWritableMountCountsAgainstOutputsLimit(t *testing.T) {
	const limit = 1 << 20
	const full = "No space left on device"
	input := fstest.MapFS{
		"big":   &fstest.MapFile{Data: make([]byte, 600<<10)},
		"huge":  &fstest.MapFile{Data: make([]byte, 2<<20)},
		"small": &fstest.MapFile{Data: []byte("s")},
	}
	tests := []struct {
		name   string
		cmds   []string
		stderr string // "" = success
	}{
		// 600 KiB copied up, 64 appended, an entry each: 352 KiB left.
		{"append to a lower file copies it up", []string{"append:big:64", "write:new:300"}, ""},
		{"append to a lower file copies it up", []string{"append:big:64", "write:new:400"}, "write:new:400: after 320 KiB: write /data/new: " + full},
		{"a lower file past the limit cannot be copied up", []string{"append:huge:1"}, "append:huge:1: open /data/huge: " + full},
		{"truncating copies nothing", []string{"write:huge:64", "write:other:800"}, ""},
		{"removing lower files gives nothing back", []string{"rm:huge", "rm:big", "write:new:1100"}, "write:new:1100: after 960 KiB: write /data/new: " + full},
		{"reads are free", []string{}, ""},
	}
	s := newSandbox(t, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task, stdout, stderr := guestTask(t, "outfill", tt.cmds...)
			task.WASI.Env = map[string]string{"OUTFILL_DIR": "/data"}
			task.WASI.Mounts = []wasi.Mount{{FS: input, Target: "/data", Writable: true}}
			task.WASI.OutputsDir, task.WASI.OutputsLimit = t.TempDir(), limit
			res := run(t, s, task)
			if tt.stderr == "" {
				if res != (Result{}) || stdout.String() != "ok\n" {
					t.Errorf("Run() = %+v, stdout %q, stderr %q; want success", res, stdout, stderr)
				}
				return
			}
			want := Result{ExitCode: 1, Reason: "outputs limit of 1 MiB exceeded", OutputsLimitHit: true}
			if res != want || strings.TrimSpace(stderr.String()) != tt.stderr {
				t.Errorf("Run() = %+v, stderr %q; want %+v, %q", res, stderr, want, tt.stderr)
			}
		})
	}
	if len(input["big"].Data) != 600<<10 || len(input["small"].Data) != 1 {
		t.Error("the input changed")
	}
}

package wasi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestValidate(t *testing.T) {
	in := fstest.MapFS{}
	m := func(targets ...string) []Mount {
		var ms []Mount
		for _, tg := range targets {
			ms = append(ms, Mount{FS: in, Target: tg})
		}
		return ms
	}
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"zero", Config{}, ""},
		{"one mount", Config{Mounts: m("/inputs")}, ""},
		{"siblings", Config{Mounts: m("/inputs/a", "/inputs/b", "/data")}, ""},
		{"prefix but not parent", Config{Mounts: m("/in", "/inputs")}, ""},
		{"outputs dir", Config{OutputsDir: t.TempDir()}, ""},
		{"dotdot", Config{Mounts: m("/../etc")}, `"/../etc" is not clean`},
		{"relative", Config{Mounts: m("inputs")}, "not absolute"},
		{"root", Config{Mounts: m("/")}, ""},
		{"root under others", Config{Mounts: m("/", "/inputs"), OutputsDir: t.TempDir()}, ""},
		{"two roots", Config{Mounts: m("/", "/")}, "mounted twice"},
		{"empty", Config{Mounts: m("")}, "empty target"},
		{"trailing slash", Config{Mounts: m("/inputs/")}, "not clean"},
		{"duplicate", Config{Mounts: m("/inputs", "/inputs")}, "mounted twice"},
		{"nested", Config{Mounts: m("/inputs", "/inputs/x")}, `overlaps mount "/inputs"`},
		{"under outputs", Config{Mounts: m("/outputs/x")}, "overlaps /outputs"},
		{"is outputs", Config{Mounts: m("/outputs")}, "overlaps /outputs"},
		{"root and a mount named outputs deeper", Config{Mounts: m("/data/outputs", "/")}, ""},
		{"nil fs", Config{Mounts: []Mount{{Target: "/inputs"}}}, "has no FS"},
		{"env name with =", Config{Env: map[string]string{"A=B": "c"}}, "without '='"},
		{"env NUL", Config{Env: map[string]string{"A": "c\x00"}}, "contains NUL"},
		{"arg NUL", Config{Args: []string{"a\x00"}}, "argument 1 contains NUL"},
		{"missing outputs", Config{OutputsDir: "/nonexistent/outputs"}, "outputs directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig containing %q", err, tt.want)
			}
		})
	}
}

func FuzzValidateTarget(f *testing.F) {
	for _, s := range []string{"/inputs", "/../etc", "inputs", "/", "/a//b", "/outputs/x", "/a/./b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		err := Config{Mounts: []Mount{{FS: fstest.MapFS{}, Target: target}}}.Validate()
		if err != nil {
			return
		}
		if !strings.HasPrefix(target, "/") || strings.Contains(target, "..") && strings.Contains("/"+target+"/", "/../") ||
			strings.Contains(target, "//") || strings.HasSuffix(target, "/") && target != RootTarget || within(target, OutputsTarget) {
			t.Fatalf("Validate accepted %q", target)
		}
	})
}

func TestArgvAndEnv(t *testing.T) {
	c := Config{Args: []string{"x", "y"}, Env: map[string]string{"B": "2", "A": "1", "C": ""}}
	if got := strings.Join(c.Argv(), " "); got != "main.wasm x y" {
		t.Errorf("Argv() = %q", got)
	}
	c.Program = "prog"
	if got := c.Argv()[0]; got != "prog" {
		t.Errorf("Argv()[0] = %q", got)
	}
	env := c.SortedEnv()
	if len(env) != 3 || env[0][0] != "A" || env[1][0] != "B" || env[2] != [2]string{"C", ""} {
		t.Errorf("SortedEnv() = %q", env)
	}
}

func TestClockIsVirtual(t *testing.T) {
	var a, b Clock
	for range 3 {
		if a.Nanotime() != b.Nanotime() {
			t.Fatal("two clocks disagree")
		}
	}
	sec, nsec := a.Walltime()
	if got := time.Unix(sec, int64(nsec)).UTC(); got.Before(Epoch) || got.Sub(Epoch) > time.Millisecond {
		t.Errorf("Walltime() = %v, want just after %v", got, Epoch)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	before := a.Nanotime()
	a.Sleep(ctx, int64(time.Hour)) // returns at once: ctx is done
	if d := a.Nanotime() - before; d < int64(time.Hour) {
		t.Errorf("Sleep advanced the clock by %v, want at least 1h", time.Duration(d))
	}
}

func TestRandIsSeeded(t *testing.T) {
	read := func(seed uint64) []byte {
		b := make([]byte, 64)
		if _, err := io.ReadFull(NewRand(seed), b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !bytes.Equal(read(1), read(1)) {
		t.Error("same seed, different bytes")
	}
	if bytes.Equal(read(1), read(2)) {
		t.Error("different seeds, same bytes")
	}
}

func TestHostDir(t *testing.T) {
	dir := t.TempDir()
	fsys := HostDir(dir)
	if got, ok := HostPath(fsys); !ok || got != dir {
		t.Errorf("HostPath() = %q, %v", got, ok)
	}
	if _, ok := HostPath(fstest.MapFS{}); ok {
		t.Error("HostPath(MapFS) ok")
	}
}

package job

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
)

func TestFunctionValidate(t *testing.T) {
	ok := Function{Name: "hello-1", Module: cidtext.MustParse("bafkqaaa")}
	ok.Normalize()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Function){
		"name upper":   func(f *Function) { f.Name = "Hello" },
		"name dash":    func(f *Function) { f.Name = "-x" },
		"name slash":   func(f *Function) { f.Name = "a/b" },
		"name long":    func(f *Function) { f.Name = strings.Repeat("a", 64) },
		"module":       func(f *Function) { f.Module = cidtext.CID{} },
		"mode":         func(f *Function) { f.Mode = "warm" },
		"timeout":      func(f *Function) { f.Timeout = Duration(MaxFunctionTimeout + 1) },
		"memory":       func(f *Function) { f.Memory = 1 },
		"concurrency":  func(f *Function) { f.Concurrency = MaxFunctionConcurrent + 1 },
		"body":         func(f *Function) { f.MaxBody = MaxFunctionMaxBody + 1 },
		"pool":         func(f *Function) { f.PoolSize = 0 },
		"env":          func(f *Function) { f.Env = map[string]string{"A=B": "x"} },
		"input target": func(f *Function) { f.Inputs = []Input{{CID: cidtext.MustParse("bafkqaaa"), Target: "/outputs"}} },
		"input twice": func(f *Function) {
			f.Inputs = []Input{{CID: cidtext.MustParse("bafkqaaa"), Target: "/d"}, {CID: cidtext.MustParse("bafkqaaa"), Target: "/d"}}
		},
		"negative vers": func(f *Function) { f.Version = -1 },
	} {
		f := ok
		mut(&f)
		if err := f.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	tomb := Function{Name: "gone", Deleted: true}
	if err := tomb.Validate(); err != nil {
		t.Fatalf("tombstone: %v", err)
	}
}

func TestFunctionNewer(t *testing.T) {
	a := Function{Version: 2, Deployer: "a"}
	b := Function{Version: 2, Deployer: "b"}
	c := Function{Version: 3, Deployer: "a"}
	if !b.Newer(&a) || a.Newer(&b) || !c.Newer(&b) || a.Newer(&a) {
		t.Fatal("order of (Version, Deployer)")
	}
}

func FuzzFunction(f *testing.F) {
	f.Add(`{"name":"hello","module":"bafkqaaa","mode":"pooled","timeout":"5s"}`)
	f.Add(`{"name":"x","deleted":true}`)
	f.Fuzz(func(t *testing.T, s string) {
		var fn Function
		if json.Unmarshal([]byte(s), &fn) != nil {
			return
		}
		fn.Normalize()
		if fn.Validate() != nil {
			return
		}
		if ValidFunctionName(fn.Name) != nil {
			t.Fatalf("valid function with name %q", fn.Name)
		}
		if !fn.Deleted && (fn.Timeout <= 0 || fn.Concurrency < 1 || fn.PoolSize < 1) {
			t.Fatalf("valid function without limits: %+v", fn)
		}
	})
}

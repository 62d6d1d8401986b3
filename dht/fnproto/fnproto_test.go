package fnproto

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

func testPeer(t testing.TB) peer.ID {
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestRecordValidate(t *testing.T) {
	p := testPeer(t)
	f := job.Function{Name: "hello", Module: cidtext.MustParse("bafkqaaa"), Version: 1, Deployer: p.String()}
	f.Normalize()
	if err := (&FunctionRecord{Node: p, Function: f}).Validate(); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*FunctionRecord{
		"no node":    {Function: f},
		"no version": {Node: p, Function: job.Function{Name: "x", Module: cidtext.MustParse("bafkqaaa"), Deployer: "d"}},
		"bad name":   {Node: p, Function: job.Function{Name: "X", Deleted: true, Version: 1, Deployer: "d"}},
	} {
		if err := r.Validate(); !errors.Is(err, dht.ErrInvalid) {
			t.Errorf("%s: %v, want dht.ErrInvalid", name, err)
		}
	}
}

func FuzzRecords(f *testing.F) {
	f.Add(`{"functions":[{"name":"a","module":"bafkqaaa","version":1,"deployer":"x","timeout":"1s","memory":65536,"concurrency":1,"maxBody":1,"mode":"fresh","poolSize":1,"recycle":1}]}`)
	f.Add(`{"functions":[{"name":"a","deleted":true,"version":1,"deployer":"x"}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		var r Records
		if dht.StrictUnmarshal([]byte(s), &r) != nil || r.Validate() != nil {
			return
		}
		for _, fn := range r.Functions {
			if fn.Version <= 0 || fn.Deployer == "" || job.ValidFunctionName(fn.Name) != nil {
				t.Fatalf("accepted %+v", fn)
			}
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzLogRecords(f *testing.F) {
	f.Add(`{"records":[{"node":"12D3KooW","seq":1,"time":"2026-01-01T00:00:00Z","requestId":"ab","method":"GET","path":"/x","status":200,"duration":1000,"module":"bafkqaaa","stderr":"hi\n"}]}`)
	f.Add(`{"records":[{"seq":0,"status":200}]}`)
	f.Add(`{"records":[{"seq":1,"status":99}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		var r LogRecords
		if dht.StrictUnmarshal([]byte(s), &r) != nil || r.Validate() != nil {
			return
		}
		for _, v := range r.Records {
			if v.Seq == 0 || v.Status < 100 || v.Status > 599 || v.Duration < 0 || len(v.Stderr) > job.MaxInvocationStderr {
				t.Fatalf("accepted %+v", v)
			}
		}
	})
}

func TestLogsRequestValidate(t *testing.T) {
	if err := (&LogsRequest{Function: "hello", Limit: 10}).Validate(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []LogsRequest{{Function: "Hello", Limit: 1}, {Function: "hello"}, {Function: "hello", Limit: MaxLogRecords + 1}} {
		if err := r.Validate(); !errors.Is(err, dht.ErrInvalid) {
			t.Errorf("%+v: %v", r, err)
		}
	}
}

func TestFit(t *testing.T) {
	recs := make([]job.Invocation, 10)
	for i := range recs {
		recs[i] = job.Invocation{Seq: uint64(i + 1), Status: 200, Stderr: strings.Repeat("x", 100)}
	}
	got := fit(recs, 1000)
	if len(got) < 2 || len(got) >= 10 || got[len(got)-1].Seq != 10 {
		t.Fatalf("fit kept %d records, the last %d", len(got), got[len(got)-1].Seq)
	}
}

package fnproto

import (
	"encoding/json"
	"errors"
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

package job

import (
	"encoding/json"
	"errors"
	"testing"
)

func FuzzParseInput(f *testing.F) {
	for _, s := range []string{cidV1, "ipfs://" + cidV1 + ":/data", "src=ipfs://" + cidV0 + "/a,dst=/b", "ipfs://x:/../etc", ":", "src=,dst=",
		"ipfs://" + cidV1 + ":/:rw", "ipfs://" + cidV1 + ":/data:ro", "src=ipfs://" + cidV0 + ",dst=/,rw", "ipfs://" + cidV1 + ":/a:rw:rw"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		in, err := ParseInput(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if err := in.validate(); err != nil {
			t.Fatalf("ParseInput(%q) accepted an invalid input: %v", s, err)
		}
		// What String prints parses back to the same mount.
		back, err := ParseInput(in.String())
		if err != nil || back.CID != in.CID || back.Target != in.Target || back.Writable != in.Writable {
			t.Fatalf("ParseInput(%q) = %+v; its String %q parses as %+v, %v", s, in, in.String(), back, err)
		}
	})
}

func FuzzSpecDecode(f *testing.F) {
	f.Add(`{"engine":"wasm","wasm":{"module":"` + cidV1 + `"},"inputs":[{"cid":"` + cidV0 + `","target":"/data"}],"timeout":"2s"}`)
	f.Add(`{"engine":"docker","docker":{"image":"ubuntu"}}`)
	f.Add(`{"engine":"wasmtime","wasm":{"module":"` + cidV1 + `"},"verify":2}`)
	f.Add(`{"engine":"wasm","inputs":[{"target":"/../etc"}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		var spec Spec
		if json.Unmarshal([]byte(s), &spec) != nil {
			return
		}
		spec.Normalize()
		if err := spec.Validate(); err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if spec.Verify > 1 && !spec.Engine.Reproducible() {
			t.Fatalf("accepted verify %d on the %s engine", spec.Verify, spec.Engine)
		}
		for _, in := range spec.Inputs {
			if ValidateTarget(in.Target) != nil {
				t.Fatalf("accepted bad target %q", in.Target)
			}
		}
	})
}

func FuzzParseCPU(f *testing.F) {
	for _, s := range []string{"500m", "0.5", "2", "1e3", "-1", "m", "0.0001", "NaN", "Inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseCPU(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if n <= 0 || n > maxCPU {
			t.Fatalf("ParseCPU(%q) = %d, out of range", s, n)
		}
	})
}

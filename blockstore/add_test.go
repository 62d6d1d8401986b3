package blockstore

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestAddFileVectors(t *testing.T) {
	v := loadVectors(t)
	s := openTemp(t)
	ctx := context.Background()
	type tc struct {
		name string
		data []byte
		want map[string]string
	}
	var cases []tc
	for name, want := range v.Files {
		data, err := os.ReadFile(filepath.Join(unixfsDir, "files", name))
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, tc{name, data, want})
	}
	var big map[string]string
	for k, raw := range v.Generated {
		if k == "about" {
			continue
		}
		if err := jsonUnmarshal(raw, &big); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, tc{"big.bin", genBytes("big", 52441225), big})
	}
	if big == nil {
		t.Fatal("vectors.json has no generated big.bin entry")
	}
	for _, c := range cases {
		for prof, want := range c.want {
			t.Run(c.name+"/"+prof, func(t *testing.T) {
				opts, ok := profiles[prof]
				if !ok {
					t.Fatalf("unknown profile %q", prof)
				}
				e, err := s.AddFile(ctx, bytes.NewReader(c.data), opts)
				if err != nil {
					t.Fatal(err)
				}
				if got := e.CID.String(); got != want {
					t.Errorf("CID = %s, want %s", got, want)
				}
				if e.Size != uint64(len(c.data)) {
					t.Errorf("Size = %d, want %d", e.Size, len(c.data))
				}
				if e.Tsize < e.Size {
					t.Errorf("Tsize %d < Size %d", e.Tsize, e.Size)
				}
			})
		}
	}
}

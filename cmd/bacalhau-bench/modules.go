package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// distinctModules is how many different modules the modules step runs.
const distinctModules = 150

// withCustomSection returns mod with a custom section named name appended: the same
// program, different bytes, so a node compiles it anew.
func withCustomSection(mod []byte, name string) []byte {
	var payload []byte
	payload = binary.AppendUvarint(payload, uint64(len(name)))
	payload = append(payload, name...)
	// Some data after the name: wazero refuses a custom section with none at the
	// end of a module (bytes.Reader.Read of nothing at EOF says EOF).
	payload = append(payload, 1)
	out := append(bytes.Clone(mod), 0) // section id 0: custom
	out = binary.AppendUvarint(out, uint64(len(payload)))
	return append(out, payload...)
}

// modules: node RSS after running many distinct modules (each compiled once), against
// its RSS after the first: the compile cache must stay within its bound.
func (b *bench) modules() ([]row, error) {
	p, err := b.serve(b.repo("modules"))
	if err != nil {
		return nil, err
	}
	defer p.stop()
	hello, err := os.ReadFile(filepath.Join(b.examples, "hello.wasm"))
	if err != nil {
		return nil, err
	}
	c := p.client()
	dir := filepath.Join(b.work, "modules")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var first uint64
	start := time.Now()
	for i := 0; i < distinctModules; i++ {
		path := filepath.Join(dir, fmt.Sprintf("m%d.wasm", i))
		if err := os.WriteFile(path, withCustomSection(hello, fmt.Sprintf("bench-%d", i)), 0o600); err != nil {
			return nil, err
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		added, err := c.AddFile(b.ctx, f, api.AddOptions{CIDVersion: 1})
		f.Close()
		if err != nil {
			return nil, err
		}
		j, err := c.Submit(b.ctx, job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: added.CID}})
		if err == nil {
			j, err = c.Watch(b.ctx, j.ID, func(*job.Job) bool { return true })
		}
		if err != nil {
			return nil, err
		}
		if j.State != job.StateCompleted {
			return nil, fmt.Errorf("module %d: job %s %s: %s", i, j.ID, j.State, j.Reason)
		}
		if i == 0 {
			if first, err = p.rss(); err != nil {
				return nil, err
			}
		}
	}
	took := time.Since(start)
	last, err := p.rss()
	if err != nil {
		return nil, err
	}
	return []row{{fmt.Sprintf("node RSS after %d distinct hello-sized modules", distinctModules),
		fmt.Sprintf("%.0f MiB (after the first: %.0f MiB)", float64(last)/(1<<20), float64(first)/(1<<20)),
		"<= compile cache bound + idle", fmt.Sprintf("%s for the %d jobs", took.Round(time.Second), distinctModules)}}, nil
}

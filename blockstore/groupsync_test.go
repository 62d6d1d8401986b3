package blockstore

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestSyncGroupCoversEveryCaller(t *testing.T) {
	var g syncGroup
	var flushes, written, durable atomic.Int64
	flush := func() error {
		flushes.Add(1)
		durable.Store(written.Load()) // what was written before the flush began
		return nil
	}
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := written.Add(1)
			if err := g.sync(flush); err != nil {
				t.Error(err)
			}
			if durable.Load() < mine {
				t.Errorf("sync returned before write %d was flushed (durable up to %d)", mine, durable.Load())
			}
		}()
	}
	wg.Wait()
	if f := flushes.Load(); f < 1 || f > 200 {
		t.Fatalf("%d flushes for 200 callers", f)
	}
	t.Logf("%d flushes served 200 callers", flushes.Load())
}

func TestSyncGroupReportsFailure(t *testing.T) {
	var g syncGroup
	boom := errors.New("disk full")
	if err := g.sync(func() error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("sync = %v, want the flush error", err)
	}
	if err := g.sync(func() error { return nil }); err != nil {
		t.Fatalf("a later good flush still reports %v", err)
	}
}

package blockstore

import "sync"

// syncGroup lets concurrent write calls share one flush. A call's writes are durable once
// a flush that started after they were written has finished, so when many small imports
// end at once (a burst of job results) one flush serves all of them instead of one each.
type syncGroup struct {
	mu       sync.Mutex
	cond     *sync.Cond
	started  uint64 // flushes begun
	finished uint64 // flushes ended, in order: one runs at a time
	running  bool
	failedAt uint64 // the newest flush that failed, 0 for none
	err      error
}

// sync returns when the writes made before the call are durable.
func (g *syncGroup) sync(flush func() error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	ticket := g.started + 1 // the first flush to start from now on covers our writes
	for g.finished < ticket {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		n := g.started
		g.mu.Unlock()
		err := flush()
		g.mu.Lock()
		g.running, g.finished = false, n
		if err != nil {
			g.failedAt, g.err = n, err
		}
		g.cond.Broadcast()
	}
	if g.failedAt >= ticket {
		return g.err // the flush that covered us, or a later one, failed: be safe
	}
	return nil
}

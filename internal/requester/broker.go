package requester

import "sync"

// broker wakes the watchers of a job when it changes. A wake-up carries no data: the
// watcher reads the job again, so a slow watcher never sees a stale or partial change.
type broker struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

func newBroker() *broker { return &broker{subs: map[string]map[chan struct{}]struct{}{}} }

func (b *broker) subscribe(id string) chan struct{} {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	if b.subs[id] == nil {
		b.subs[id] = map[chan struct{}]struct{}{}
	}
	b.subs[id][ch] = struct{}{}
	b.mu.Unlock()
	return ch
}

func (b *broker) unsubscribe(id string, ch chan struct{}) {
	b.mu.Lock()
	delete(b.subs[id], ch)
	if len(b.subs[id]) == 0 {
		delete(b.subs, id)
	}
	b.mu.Unlock()
}

func (b *broker) publish(id string) {
	b.mu.Lock()
	for ch := range b.subs[id] {
		select {
		case ch <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
	b.mu.Unlock()
}

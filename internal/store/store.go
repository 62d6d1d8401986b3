// Package store keeps jobs on disk in an embedded, crash-safe pebble database (every
// write synced to its log before it returns), with an index in memory so that listing
// thousands of jobs never scans the disk.
//
//	s, err := store.Open(filepath.Join(repo, "jobs"))
//	err = s.Create(j)
//	page, err := s.List(store.Query{Limit: 10})
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Errors of the store. ErrNotFound and ErrAmbiguous are job.ErrNotFound and
// job.ErrAmbiguous (errors.Is matches both).
var (
	ErrNotFound  = fmt.Errorf("store: %w", job.ErrNotFound)
	ErrAmbiguous = fmt.Errorf("store: %w", job.ErrAmbiguous)
	ErrExists    = errors.New("store: job exists already")
)

// keyPrefix starts every job's key; the rest is the job ID. keyEnd is the first key
// after all of them.
const keyPrefix, keyEnd = "job/", "job0"

func key(id string) []byte { return []byte(keyPrefix + id) }

// Store is safe for concurrent use.
type Store struct {
	db *pebble.DB

	// locks serialise the writes of one job (striped by ID): a write reads the
	// job's revision or record and writes it back. Writes of different jobs run
	// at once, and pebble syncs their log entries together.
	locks [64]sync.Mutex
	seed  maphash.Seed

	mu    sync.RWMutex
	index map[string]*entry // by job ID
}

// entry is what List filters and sorts on without reading the job.
type entry struct {
	id        string
	created   time.Time
	updated   time.Time
	state     job.State
	rev       uint64
	requester string
	labels    map[string]string
}

func newEntry(id string, h header) *entry {
	return &entry{id: id, created: h.CreatedAt, updated: h.UpdatedAt, state: h.State, rev: h.Rev, requester: h.Requester, labels: h.Spec.Labels}
}

func headerOf(j *job.Job) header {
	h := header{State: j.State, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, Rev: j.Rev, Requester: j.Requester}
	h.Spec.Labels = j.Spec.Labels
	return h
}

// Open opens or creates the store in dir and loads its index.
func Open(dir string) (*Store, error) {
	// Job records are a few KiB: a small memtable and cache keep an idle node small.
	cache := pebble.NewCache(4 << 20)
	defer cache.Unref()
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}, MemTableSize: 2 << 20, Cache: cache})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	s := &Store{db: db, index: map[string]*entry{}, seed: maphash.MakeSeed()}
	if err := s.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: load %s: %w", dir, err)
	}
	return s, nil
}

func (s *Store) load() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte(keyPrefix), UpperBound: []byte(keyEnd)})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		id := string(it.Key()[len(keyPrefix):])
		var h header
		if err := json.Unmarshal(it.Value(), &h); err != nil {
			it.Close()
			return fmt.Errorf("job %s: %w", id, err)
		}
		s.index[id] = newEntry(id, h)
	}
	return it.Close()
}

func (s *Store) lock(id string) func() {
	m := &s.locks[maphash.String(s.seed, id)%uint64(len(s.locks))]
	m.Lock()
	return m.Unlock
}

// write stores the job durably and indexes it; the caller holds the job's lock.
func (s *Store) write(j *job.Job) error {
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("store: encode %s: %w", j.ID, err)
	}
	if err := s.db.Set(key(j.ID), b, pebble.Sync); err != nil {
		return fmt.Errorf("store: write %s: %w", j.ID, err)
	}
	s.mu.Lock()
	s.index[j.ID] = newEntry(j.ID, headerOf(j))
	s.mu.Unlock()
	return nil
}

// entry returns the index entry of a job, nil if there is none.
func (s *Store) entry(id string) *entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.index[id]
}

// quietLogger drops pebble's informational messages; errors reach the caller anyway.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("store: pebble: "+format, args...))
}

// header is the part of a stored job the index needs.
type header struct {
	State     job.State `json:"state"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	Rev       uint64    `json:"rev"`
	Requester string    `json:"requester"`
	Spec      struct {
		Labels map[string]string `json:"labels"`
	} `json:"spec"`
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Create stores a new job; it is on disk when Create returns.
func (s *Store) Create(j *job.Job) error {
	defer s.lock(j.ID)()
	if s.entry(j.ID) != nil {
		return fmt.Errorf("%w: %s", ErrExists, j.ID)
	}
	return s.write(j)
}

// Put stores a copy of a job another node owns, unless the store holds the same or a
// newer revision already. It reports whether it wrote.
func (s *Store) Put(j *job.Job) (bool, error) {
	defer s.lock(j.ID)()
	if e := s.entry(j.ID); e != nil && e.rev >= j.Rev {
		return false, nil
	}
	if err := s.write(j); err != nil {
		return false, err
	}
	return true, nil
}

// Rev is the revision of the stored job, 0 if there is none.
func (s *Store) Rev(id string) uint64 {
	if e := s.entry(id); e != nil {
		return e.rev
	}
	return 0
}

// UpdatedSince returns up to limit IDs of the jobs requester owns that changed at or
// after since, in (update time, ID) order, skipping those at since up to and including
// after. more says whether more follow.
func (s *Store) UpdatedSince(requester string, since time.Time, after string, limit int) (ids []string, last time.Time, more bool) {
	s.mu.RLock()
	var es []*entry
	for _, e := range s.index {
		if e.requester != requester || e.updated.Before(since) || e.updated.Equal(since) && after != "" && e.id <= after {
			continue
		}
		es = append(es, e)
	}
	s.mu.RUnlock()
	sort.Slice(es, func(i, k int) bool {
		if !es[i].updated.Equal(es[k].updated) {
			return es[i].updated.Before(es[k].updated)
		}
		return es[i].id < es[k].id
	})
	if len(es) > limit {
		es, more = es[:limit], true
	}
	for _, e := range es {
		ids = append(ids, e.id)
		last = e.updated
	}
	return ids, last, more
}

// Get reads one job by its full ID.
func (s *Store) Get(id string) (*job.Job, error) {
	v, closer, err := s.db.Get(key(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read %s: %w", id, err)
	}
	defer closer.Close()
	j := new(job.Job)
	if err := json.Unmarshal(v, j); err != nil {
		return nil, fmt.Errorf("store: decode %s: %w", id, err)
	}
	return j, nil
}

// Resolve turns a full ID or a unique prefix of one (with or without "j-") into the ID.
func (s *Store) Resolve(prefix string) (string, error) {
	if err := job.CheckIDPrefix(prefix); err != nil {
		return "", err
	}
	p := job.NormalizeIDPrefix(prefix)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.index[p]; ok {
		return p, nil
	}
	var found []string
	for id := range s.index {
		if strings.HasPrefix(id, p) {
			found = append(found, id)
			if len(found) > 3 {
				break
			}
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%w: no job ID starts with %s", ErrNotFound, prefix)
	case 1:
		return found[0], nil
	default:
		sort.Strings(found)
		return "", fmt.Errorf("%w: %s matches %s, ...: give more characters", ErrAmbiguous, prefix, strings.Join(found, ", "))
	}
}

// Update reads a job, lets fn change it, and writes it back; no other write of the
// job comes in between. If fn returns an error nothing is written and Update returns
// that error.
func (s *Store) Update(id string, fn func(*job.Job) error) (*job.Job, error) {
	defer s.lock(id)()
	j, err := s.Get(id)
	if err != nil {
		return nil, err
	}
	if err := fn(j); err != nil {
		return nil, err
	}
	if err := s.write(j); err != nil {
		return nil, err
	}
	return j, nil
}

// InState returns the IDs of jobs in any of the given states, oldest first.
func (s *Store) InState(states ...job.State) []string {
	s.mu.RLock()
	var es []*entry
	for _, e := range s.index {
		for _, st := range states {
			if e.state == st {
				es = append(es, e)
				break
			}
		}
	}
	s.mu.RUnlock()
	sort.Slice(es, func(i, k int) bool { return less(es[i], es[k], SortCreated) })
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.id
	}
	return ids
}

// Package store keeps jobs on disk in an embedded, crash-safe bbolt file, with an index
// in memory so that listing thousands of jobs never scans the disk.
//
//	s, err := store.Open(filepath.Join(repo, "jobs.db"))
//	err = s.Create(j)
//	page, err := s.List(store.Query{Limit: 10})
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

var (
	ErrNotFound  = errors.New("store: job not found")
	ErrAmbiguous = errors.New("store: job ID prefix is ambiguous")
	ErrExists    = errors.New("store: job exists already")
)

var jobsBucket = []byte("jobs")

// Store is safe for concurrent use.
type Store struct {
	db *bolt.DB

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
}

func newEntry(id string, h header) *entry {
	return &entry{id: id, created: h.CreatedAt, updated: h.UpdatedAt, state: h.State, rev: h.Rev, requester: h.Requester}
}

func headerOf(j *job.Job) header {
	return header{State: j.State, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, Rev: j.Rev, Requester: j.Requester}
}

// Open opens or creates the store file and loads its index.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// Batch coalesces concurrent writes into one fsync'd transaction. Its default window
	// (10 ms) is paid by every lone write; half a millisecond still gathers a burst.
	db.MaxBatchDelay = 500 * time.Microsecond
	s := &Store{db: db, index: map[string]*entry{}}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(jobsBucket)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var h header
			if err := json.Unmarshal(v, &h); err != nil {
				return fmt.Errorf("job %s: %w", k, err)
			}
			s.index[string(k)] = newEntry(string(k), h)
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: load %s: %w", path, err)
	}
	return s, nil
}

// header is the part of a stored job the index needs.
type header struct {
	State     job.State `json:"state"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	Rev       uint64    `json:"rev"`
	Requester string    `json:"requester"`
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Create stores a new job; it is on disk when Create returns.
func (s *Store) Create(j *job.Job) error {
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("store: encode %s: %w", j.ID, err)
	}
	err = s.db.Batch(func(tx *bolt.Tx) error {
		bk := tx.Bucket(jobsBucket)
		if bk.Get([]byte(j.ID)) != nil {
			return fmt.Errorf("%w: %s", ErrExists, j.ID)
		}
		return bk.Put([]byte(j.ID), b)
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.index[j.ID] = newEntry(j.ID, headerOf(j))
	s.mu.Unlock()
	return nil
}

// Put stores a copy of a job another node owns, unless the store holds the same or a
// newer revision already. It reports whether it wrote.
func (s *Store) Put(j *job.Job) (bool, error) {
	b, err := json.Marshal(j)
	if err != nil {
		return false, fmt.Errorf("store: encode %s: %w", j.ID, err)
	}
	wrote := false
	err = s.db.Batch(func(tx *bolt.Tx) error {
		wrote = false // Batch may run the function again
		bk := tx.Bucket(jobsBucket)
		if v := bk.Get([]byte(j.ID)); v != nil {
			var h header
			if err := json.Unmarshal(v, &h); err == nil && h.Rev >= j.Rev {
				return nil
			}
		}
		wrote = true
		return bk.Put([]byte(j.ID), b)
	})
	if err != nil || !wrote {
		return false, err
	}
	s.mu.Lock()
	if e := s.index[j.ID]; e == nil || e.rev < j.Rev {
		s.index[j.ID] = newEntry(j.ID, headerOf(j))
	}
	s.mu.Unlock()
	return true, nil
}

// Rev is the revision of the stored job, 0 if there is none.
func (s *Store) Rev(id string) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e := s.index[id]; e != nil {
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
	var j *job.Job
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(jobsBucket).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		j = new(job.Job)
		return json.Unmarshal(v, j)
	})
	return j, err
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

// Update reads a job, lets fn change it, and writes it back in one transaction. If fn
// returns an error nothing is written and Update returns that error.
func (s *Store) Update(id string, fn func(*job.Job) error) (*job.Job, error) {
	var out *job.Job
	err := s.db.Batch(func(tx *bolt.Tx) error {
		bk := tx.Bucket(jobsBucket)
		v := bk.Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		j := new(job.Job)
		if err := json.Unmarshal(v, j); err != nil {
			return fmt.Errorf("store: decode %s: %w", id, err)
		}
		if err := fn(j); err != nil {
			return err
		}
		b, err := json.Marshal(j)
		if err != nil {
			return err
		}
		out = j
		return bk.Put([]byte(id), b)
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.index[id] = newEntry(id, headerOf(out))
	s.mu.Unlock()
	return out, nil
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

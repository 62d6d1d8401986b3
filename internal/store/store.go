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
	id      string
	created time.Time
	state   job.State
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
			s.index[string(k)] = &entry{id: string(k), created: h.CreatedAt, state: h.State}
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
	s.index[j.ID] = &entry{id: j.ID, created: j.CreatedAt, state: j.State}
	s.mu.Unlock()
	return nil
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
	if e := s.index[id]; e != nil {
		e.state = out.State
	}
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

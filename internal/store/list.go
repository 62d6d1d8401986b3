package store

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Sort keys List understands.
const (
	SortCreated = "created_at"
	SortID      = "id"
)

// MaxLimit bounds one page of List.
const MaxLimit = 1000

// Query selects a page of jobs. The zero value gives the 10 oldest jobs, oldest first,
// as upstream Bacalhau's `list` does without --reverse.
type Query struct {
	IDPrefix string      // keep jobs whose ID starts with this ("j-" optional)
	States   []job.State // keep jobs in any of these states; empty keeps all
	SortBy   string      // SortCreated (default) or SortID
	Reverse  bool
	Offset   int
	Limit    int    // 0 means 10, like upstream; at most MaxLimit
	Labels   string // a label selector the jobs' labels must meet (job.ParseSelector)
}

// Page is one page of a listing.
type Page struct {
	Jobs  []*job.Job `json:"jobs"`
	Total int        `json:"total"` // jobs matching the query, on all pages
}

// Validate reports a query a user got wrong.
func (q Query) Validate() error {
	switch q.SortBy {
	case "", SortCreated, SortID:
	default:
		return fmt.Errorf("store: cannot sort by %q (want %s or %s)", q.SortBy, SortCreated, SortID)
	}
	if q.Limit < 0 || q.Limit > MaxLimit {
		return fmt.Errorf("store: limit %d is out of range (1 to %d)", q.Limit, MaxLimit)
	}
	if q.Offset < 0 {
		return fmt.Errorf("store: negative offset %d", q.Offset)
	}
	if q.IDPrefix != "" {
		if err := job.CheckIDPrefix(q.IDPrefix); err != nil {
			return err
		}
	}
	_, err := job.ParseSelector(q.Labels)
	return err
}

// List filters and sorts on the in-memory index, then reads only the jobs of the page.
func (s *Store) List(q Query) (Page, error) {
	if err := q.Validate(); err != nil {
		return Page{}, err
	}
	limit := q.Limit
	if limit == 0 {
		limit = 10
	}
	sel, _ := job.ParseSelector(q.Labels) // Validate read it
	prefix := ""
	if q.IDPrefix != "" {
		prefix = job.NormalizeIDPrefix(q.IDPrefix)
	}
	s.mu.RLock()
	es := make([]*entry, 0, len(s.index))
	for _, e := range s.index {
		if prefix != "" && !strings.HasPrefix(e.id, prefix) {
			continue
		}
		if len(q.States) > 0 && !hasState(q.States, e.state) {
			continue
		}
		if !sel.Matches(e.labels) {
			continue
		}
		es = append(es, e)
	}
	s.mu.RUnlock()
	sortBy := q.SortBy
	if sortBy == "" {
		sortBy = SortCreated
	}
	sort.Slice(es, func(i, k int) bool {
		if q.Reverse {
			return less(es[k], es[i], sortBy)
		}
		return less(es[i], es[k], sortBy)
	})
	page := Page{Total: len(es), Jobs: []*job.Job{}}
	if q.Offset >= len(es) {
		return page, nil
	}
	es = es[q.Offset:]
	if len(es) > limit {
		es = es[:limit]
	}
	for _, e := range es {
		j, err := s.Get(e.id)
		if errors.Is(err, ErrNotFound) {
			continue // deleted between the index read and now
		}
		if err != nil {
			return Page{}, err
		}
		page.Jobs = append(page.Jobs, j)
	}
	return page, nil
}

func hasState(states []job.State, st job.State) bool {
	for _, s := range states {
		if s == st {
			return true
		}
	}
	return false
}

func less(a, b *entry, by string) bool {
	if by == SortCreated && !a.created.Equal(b.created) {
		return a.created.Before(b.created)
	}
	return a.id < b.id
}

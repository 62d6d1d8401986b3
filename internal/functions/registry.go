package functions

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// DefaultMaxFunctions bounds a registry's live functions when OpenRegistry is given 0;
// as many tombstones are kept besides.
const DefaultMaxFunctions = 1000

var (
	// ErrNotFound: no function of that name is deployed (a job.ErrNotFound, for the API).
	ErrNotFound = fmt.Errorf("functions: no such function: %w", job.ErrNotFound)
	// ErrFull: the registry holds its limit of functions (a job.ErrInvalid: the deploy
	// is refused).
	ErrFull = fmt.Errorf("%w: functions: the node's registry is full", job.ErrInvalid)
)

// Registry is the functions a node knows, deployed and deleted (tombstones), kept in
// one JSON file. For each name the record with the highest (Version, Deployer) wins,
// so every node that sees the same records ends with the same registry.
type Registry struct {
	mu   sync.Mutex
	path string
	max  int
	fns  map[string]*job.Function
	// routes maps each route of a live function to its name (routes.go).
	routes map[string]string
}

// OpenRegistry loads the registry kept at path (none yet: empty).
func OpenRegistry(path string, max int) (*Registry, error) {
	if max <= 0 {
		max = DefaultMaxFunctions
	}
	r := &Registry{path: path, max: max, fns: map[string]*job.Function{}, routes: map[string]string{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("functions: registry: %w", err)
	}
	var list []job.Function
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("functions: registry %s is damaged: %w", path, err)
	}
	for i := range list {
		f := list[i]
		if f.Validate() == nil {
			r.fns[f.Name] = &f
		}
	}
	r.rebuildRoutesLocked()
	return r, nil
}

// Apply records f if it is newer than what the registry holds for its name, and
// reports whether it did. f must be valid.
func (r *Registry) Apply(f job.Function) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.fns[f.Name]
	if old != nil && !f.Newer(old) {
		return false, nil
	}
	if !f.Deleted && (old == nil || old.Deleted) && r.liveLocked() >= r.max {
		return false, fmt.Errorf("%w: %d functions deployed, the node's limit", ErrFull, r.max)
	}
	r.fns[f.Name] = &f
	r.pruneTombstonesLocked()
	if err := r.saveLocked(); err != nil {
		if old == nil {
			delete(r.fns, f.Name)
		} else {
			r.fns[f.Name] = old
		}
		return false, err
	}
	r.rebuildRoutesLocked()
	return true, nil
}

func (r *Registry) liveLocked() int {
	n := 0
	for _, f := range r.fns {
		if !f.Deleted {
			n++
		}
	}
	return n
}

// pruneTombstonesLocked keeps the newest r.max tombstones.
func (r *Registry) pruneTombstonesLocked() {
	var dead []*job.Function
	for _, f := range r.fns {
		if f.Deleted {
			dead = append(dead, f)
		}
	}
	if len(dead) <= r.max {
		return
	}
	sort.Slice(dead, func(i, j int) bool { return dead[j].Newer(dead[i]) })
	for _, f := range dead[:len(dead)-r.max] {
		delete(r.fns, f.Name)
	}
}

func (r *Registry) saveLocked() error {
	list := r.allLocked()
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	tmp := r.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("functions: registry: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, r.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("functions: registry: %w", err)
	}
	if d, err := os.Open(filepath.Dir(r.path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

func (r *Registry) allLocked() []job.Function {
	list := make([]job.Function, 0, len(r.fns))
	for _, f := range r.fns {
		list = append(list, *f)
	}
	slices.SortFunc(list, func(a, b job.Function) int { return strings.Compare(a.Name, b.Name) })
	return list
}

// Lookup returns the deployed function named name.
func (r *Registry) Lookup(name string) (*job.Function, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.fns[name]
	if f == nil || f.Deleted {
		return nil, false
	}
	return f, true
}

// Record returns name's record, a tombstone included.
func (r *Registry) Record(name string) (job.Function, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.fns[name]
	if f == nil {
		return job.Function{}, false
	}
	return *f, true
}

// List returns the deployed functions by name.
func (r *Registry) List() []job.Function {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []job.Function
	for _, f := range r.allLocked() {
		if !f.Deleted {
			out = append(out, f)
		}
	}
	return out
}

// All returns every record, tombstones included, by name: what a pull answers.
func (r *Registry) All() []job.Function {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.allLocked()
}

package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// ImportBolt copies the jobs of a store written by an earlier version (one bbolt file,
// bucket "jobs", a JSON record per job ID) into s, keeping the newer revision where s
// holds one already. It returns how many jobs it wrote.
func (s *Store) ImportBolt(path string) (int, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		return 0, fmt.Errorf("store: open %s: %w", path, err)
	}
	defer db.Close()
	var jobs []*job.Job
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("jobs"))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			j := new(job.Job)
			if err := json.Unmarshal(v, j); err != nil {
				return fmt.Errorf("job %s: %w", k, err)
			}
			if j.ID != string(k) {
				return fmt.Errorf("job %s: record says %q", k, j.ID)
			}
			jobs = append(jobs, j)
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("store: read %s: %w", path, err)
	}
	wrote := 0
	for _, j := range jobs {
		ok, err := s.Put(j)
		if err != nil {
			return wrote, err
		}
		if ok {
			wrote++
		}
	}
	return wrote, nil
}

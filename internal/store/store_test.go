package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

func spec() job.Spec {
	return job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: cidtext.MustParse("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4")}}
}

func open(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCreateGetUpdateReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs")
	s := open(t, path)
	t0 := time.Unix(1700000000, 0).UTC()
	j := job.New(spec(), t0)
	if err := s.Create(j); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(j); !errors.Is(err, ErrExists) {
		t.Fatalf("second Create = %v, want ErrExists", err)
	}
	got, err := s.Update(j.ID, func(j *job.Job) error { return j.Transition(job.StateRunning, "", t0) })
	if err != nil || got.State != job.StateRunning {
		t.Fatalf("Update = %v, %v", got, err)
	}
	boom := errors.New("boom")
	if _, err := s.Update(j.ID, func(j *job.Job) error { j.State = job.StateFailed; return boom }); !errors.Is(err, boom) {
		t.Fatalf("failing Update = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	defer s.Close()
	back, err := s.Get(j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if back.State != job.StateRunning || len(back.History) != 2 || !back.CreatedAt.Equal(t0) {
		t.Fatalf("after reopen: %+v", back)
	}
	if ids := s.InState(job.StateRunning); len(ids) != 1 || ids[0] != j.ID {
		t.Fatalf("InState(running) = %v", ids)
	}
	if _, err := s.Get("j-nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get missing = %v", err)
	}
}

func TestResolve(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "jobs"))
	defer s.Close()
	now := time.Now()
	a := job.New(spec(), now)
	a.ID = "j-aaaa1111-0000-4000-8000-000000000000"
	b := job.New(spec(), now)
	b.ID = "j-aaaa2222-0000-4000-8000-000000000000"
	for _, j := range []*job.Job{a, b} {
		if err := s.Create(j); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		in   string
		want string
		err  error
	}{
		{a.ID, a.ID, nil},
		{"j-aaaa1", a.ID, nil},
		{"aaaa2", b.ID, nil},
		{"j-aaaa", "", ErrAmbiguous},
		{"j-bbbb", "", ErrNotFound},
	}
	for _, tt := range tests {
		got, err := s.Resolve(tt.in)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("Resolve(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
	if _, err := s.Resolve("../../etc"); err == nil {
		t.Error("Resolve accepted a path")
	}
}

func TestList(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "jobs"))
	defer s.Close()
	t0 := time.Unix(1700000000, 0)
	var ids []string
	for i := 0; i < 25; i++ {
		j := job.New(spec(), t0.Add(time.Duration(i)*time.Second))
		if i%5 == 0 {
			j.State = job.StateFailed
		}
		if err := s.Create(j); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	p, err := s.List(Query{})
	if err != nil || p.Total != 25 || len(p.Jobs) != 10 || p.Jobs[0].ID != ids[0] || p.Jobs[9].ID != ids[9] {
		t.Fatalf("default page: total %d, %d jobs, err %v", p.Total, len(p.Jobs), err)
	}
	p, _ = s.List(Query{Reverse: true, Limit: 3, Offset: 1})
	if len(p.Jobs) != 3 || p.Jobs[0].ID != ids[23] {
		t.Fatalf("reverse page starts at %v", p.Jobs[0].ID)
	}
	p, _ = s.List(Query{States: []job.State{job.StateFailed}, Limit: 100})
	if p.Total != 5 {
		t.Fatalf("failed filter: %d", p.Total)
	}
	p, _ = s.List(Query{IDPrefix: ids[7][:12], Limit: 100})
	if p.Total < 1 || p.Jobs[0].ID[:12] != ids[7][:12] {
		t.Fatalf("id filter: %+v", p)
	}
	p, _ = s.List(Query{SortBy: SortID, Limit: 100})
	for i := 1; i < len(p.Jobs); i++ {
		if p.Jobs[i-1].ID > p.Jobs[i].ID {
			t.Fatalf("not sorted by id at %d", i)
		}
	}
	for _, bad := range []Query{{SortBy: "name"}, {Limit: -1}, {Limit: MaxLimit + 1}, {Offset: -1}, {IDPrefix: "zz/"}} {
		if _, err := s.List(bad); err == nil || !strings.HasPrefix(err.Error(), "store:") && !strings.HasPrefix(err.Error(), "job:") {
			t.Errorf("List(%+v) = %v, want a clear error", bad, err)
		}
	}
}

func BenchmarkList10k(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "jobs"))
	defer s.Close()
	t0 := time.Now()
	for i := 0; i < 10000; i++ {
		if err := s.Create(job.New(spec(), t0.Add(time.Duration(i)))); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := s.List(Query{Limit: 10, Reverse: true})
		if err != nil || p.Total != 10000 {
			b.Fatal(fmt.Sprint(p.Total, err))
		}
	}
}

// TestImportBolt reads a store as the bbolt versions wrote it.
func TestImportBolt(t *testing.T) {
	dir := t.TempDir()
	legacy := filepath.Join(dir, "jobs.db")
	db, err := bolt.Open(legacy, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0).UTC()
	old := []*job.Job{job.New(spec(), now), job.New(spec(), now.Add(time.Second))}
	old[1].Rev = 3
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("jobs"))
		if err != nil {
			return err
		}
		for _, j := range old {
			v, _ := json.Marshal(j)
			if err := b.Put([]byte(j.ID), v); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(filepath.Join(dir, "jobs"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	newer := *old[1]
	newer.Rev = 4
	if _, err := s.Put(&newer); err != nil {
		t.Fatal(err)
	}
	n, err := s.ImportBolt(legacy)
	if err != nil || n != 1 {
		t.Fatalf("ImportBolt() = %d, %v; want 1 (the other is older than the store's)", n, err)
	}
	for _, want := range []*job.Job{old[0], &newer} {
		got, err := s.Get(want.ID)
		if err != nil || got.Rev != want.Rev || !got.CreatedAt.Equal(want.CreatedAt) {
			t.Fatalf("Get(%s) = %+v, %v; want revision %d", want.ID, got, err, want.Rev)
		}
	}
	if p, err := s.List(Query{}); err != nil || p.Total != 2 {
		t.Fatalf("List() = %d jobs, %v", p.Total, err)
	}
}

// TestListLabels: jobs are selected by their labels, also after the store is opened
// again (the index reads them back from disk); a bad selector is an error.
func TestListLabels(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "jobs")
	s := open(t, dir)
	t0 := time.Unix(1700000000, 0)
	want := map[string]string{}
	for i, l := range []map[string]string{{"env": "prod"}, {"env": "dev"}, nil, {"env": "prod", "team": "a"}} {
		sp := spec()
		sp.Labels = l
		j := job.New(sp, t0.Add(time.Duration(i)*time.Second))
		if err := s.Create(j); err != nil {
			t.Fatal(err)
		}
		want[j.ID] = job.FormatLabels(l)
	}
	check := func(s *Store) {
		t.Helper()
		for sel, n := range map[string]int{"env=prod": 2, "env!=prod": 2, "env in (dev,prod),!team": 2, "team": 1, "": 4} {
			p, err := s.List(Query{Labels: sel, Limit: 100})
			if err != nil || p.Total != n {
				t.Errorf("labels %q: %d jobs, %v; want %d", sel, p.Total, err, n)
			}
			q, _ := job.ParseSelector(sel)
			for _, j := range p.Jobs {
				if !q.Matches(j.Spec.Labels) || job.FormatLabels(j.Spec.Labels) != want[j.ID] {
					t.Errorf("labels %q listed %s with labels %v", sel, j.ID, j.Spec.Labels)
				}
			}
		}
	}
	check(s)
	s.Close()
	s = open(t, dir)
	defer s.Close()
	check(s)
	if _, err := s.List(Query{Labels: "env in prod"}); err == nil || !errors.Is(err, job.ErrInvalid) {
		t.Errorf("a bad selector: %v", err)
	}
}

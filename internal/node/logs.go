package node

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Stream names for Logs.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// logSink receives a running guest's stdout and stderr into files of the job directory
// (they become part of the result) and wakes followers on every write.
type logSink struct {
	dir            string
	stdout, stderr io.Writer

	mu      sync.Mutex
	files   []*os.File
	changed chan struct{} // closed and replaced on every write and at close
	closed  bool
}

func newLogSink(dir string) (*logSink, error) {
	s := &logSink{dir: dir, changed: make(chan struct{})}
	for _, name := range []string{Stdout, Stderr} {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			s.close()
			return nil, err
		}
		s.files = append(s.files, f)
	}
	s.stdout, s.stderr = sinkWriter{s, s.files[0]}, sinkWriter{s, s.files[1]}
	return s, nil
}

type sinkWriter struct {
	s *logSink
	f *os.File
}

func (w sinkWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.s.mu.Lock()
	close(w.s.changed)
	w.s.changed = make(chan struct{})
	w.s.mu.Unlock()
	return n, err
}

// state returns a channel closed at the next change, and whether the sink is closed.
func (s *logSink) state() (<-chan struct{}, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed, s.closed
}

func (s *logSink) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for _, f := range s.files {
		f.Close()
	}
	close(s.changed)
}

// Logs calls fn with the job's stdout and stderr. With follow it waits for a pending
// job to start and streams a running job's output live until it ends.
func (n *Node) Logs(ctx context.Context, idOrPrefix string, follow bool, fn func(stream string, data []byte) error) error {
	id, err := n.jobs.Resolve(idOrPrefix)
	if err != nil {
		return err
	}
	for {
		if ex, ok := n.running.Load(id); ok {
			err := n.followSink(ctx, ex.(*execution).logs, follow, fn)
			if err == nil && follow {
				_, err = n.Wait(ctx, id) // the output has ended; return when the job has too
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		j, err := n.jobs.Get(id)
		if err != nil {
			return err
		}
		if j.State.Terminal() {
			return n.resultLogs(ctx, j, fn)
		}
		if !follow && j.State == job.StatePending {
			return nil
		}
		// Pending (or between the worker's steps): wait for the next change.
		if err := n.Watch(ctx, id, func(k *job.Job) bool { return k.State == j.State && len(k.History) == len(j.History) }); err != nil {
			return err
		}
	}
}

// followSink streams the files of a running job. It returns fs.ErrNotExist when the job
// ended and its directory is gone before the files were opened.
func (n *Node) followSink(ctx context.Context, s *logSink, follow bool, fn func(string, []byte) error) error {
	var files [2]*os.File
	for i, name := range []string{Stdout, Stderr} {
		f, err := os.Open(filepath.Join(s.dir, name))
		if err != nil {
			for _, g := range files[:i] {
				g.Close()
			}
			return fs.ErrNotExist
		}
		files[i] = f
		defer f.Close()
	}
	buf := make([]byte, 32<<10)
	for {
		changed, closed := s.state()
		for i, name := range []string{Stdout, Stderr} {
			for {
				k, err := files[i].Read(buf)
				if k > 0 {
					if err := fn(name, buf[:k]); err != nil {
						return err
					}
				}
				if err != nil || k == 0 {
					break
				}
			}
		}
		if closed || !follow {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// resultLogs reads stdout and stderr from a finished job's result DAG.
func (n *Node) resultLogs(ctx context.Context, j *job.Job, fn func(string, []byte) error) error {
	e := j.Reported()
	if e == nil || e.ResultCID == "" {
		return nil
	}
	c, err := job.ParseCID(e.ResultCID)
	if err != nil {
		return err
	}
	fsys, err := blockstore.NewFS(ctx, n.getter(), c)
	if err != nil {
		return err
	}
	buf := make([]byte, 32<<10)
	for _, name := range []string{Stdout, Stderr} {
		f, err := fsys.Open(name)
		if err != nil {
			return err
		}
		for {
			k, err := f.Read(buf)
			if k > 0 {
				if err := fn(name, buf[:k]); err != nil {
					f.Close()
					return err
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return err
			}
		}
		f.Close()
	}
	return nil
}

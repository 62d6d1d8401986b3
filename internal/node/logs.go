package node

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/compute"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Stream names for Logs.
const (
	Stdout = compute.Stdout
	Stderr = compute.Stderr
)

// Logs calls fn with the job's stdout and stderr. With follow it waits for a pending
// job to start and streams a running job's output live until it ends.
func (n *Node) Logs(ctx context.Context, idOrPrefix string, follow bool, fn func(stream string, data []byte) error) error {
	id, err := n.req.Resolve(idOrPrefix)
	if err != nil {
		return err
	}
	for {
		if sink, ok := n.compute.Running(id); ok {
			err := n.followSink(ctx, sink, follow, fn)
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
func (n *Node) followSink(ctx context.Context, s *compute.LogSink, follow bool, fn func(string, []byte) error) error {
	var files [2]*os.File
	for i, name := range []string{Stdout, Stderr} {
		f, err := os.Open(filepath.Join(s.Dir(), name))
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
		changed, closed := s.State()
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
	if e == nil || !e.ResultCID.Defined() {
		return nil
	}
	c, err := blockstore.Key(e.ResultCID)
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

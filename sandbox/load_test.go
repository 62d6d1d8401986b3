package sandbox

import (
	"context"
	"errors"
	"os"
	"runtime"
	"testing"
	"time"
)

// blockingLoader loads a guest's bytes once release is closed, or fails
// when its context ends first. started receives a value at every call.
type blockingLoader struct {
	path    string
	release chan struct{}
	started chan struct{}
}

func newBlockingLoader(guest string) *blockingLoader {
	return &blockingLoader{path: guests[guest], release: make(chan struct{}), started: make(chan struct{}, 16)}
}

func (l *blockingLoader) load(ctx context.Context) ([]byte, error) {
	l.started <- struct{}{}
	select {
	case <-l.release:
		return os.ReadFile(l.path)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// waitFor yields until cond holds, and fails the test if it does not within
// a generous bound (not a timing assertion: cond is expected at once).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// holders returns how many runs hold or wait for the module cached under key.
func holders(s *Sandbox, key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.modules[key]; c != nil {
		return c.refs
	}
	return 0
}

// TestSharedLoadOutlivesItsFirstCaller: two runs wait for one module; the
// one whose call started the load gives up; the other still gets the
// module and runs it to the end.
func TestSharedLoadOutlivesItsFirstCaller(t *testing.T) {
	s := newSandbox(t, Options{})
	l := newBlockingLoader("hello")

	first, _, _ := guestTask(t, "hello")
	first.ModuleKey, first.Module = "shared-hello", l.load
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	firstErr := make(chan error, 1)
	go func() {
		_, err := s.Run(ctx, first)
		firstErr <- err
	}()
	<-l.started

	second, stdout, _ := guestTask(t, "hello")
	second.ModuleKey, second.Module = "shared-hello", l.load
	type outcome struct {
		res Result
		err error
	}
	secondDone := make(chan outcome, 1)
	go func() {
		res, err := s.Run(context.Background(), second)
		secondDone <- outcome{res, err}
	}()
	waitFor(t, "the second run to wait for the shared load", func() bool { return holders(s, "shared-hello") == 2 })

	cancel()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Errorf("first Run() error = %v, want context.Canceled", err)
	}
	close(l.release)
	got := <-secondDone
	if got.err != nil || untimed(got.res) != (Result{}) || stdout.String() != "Hello, world!\n" {
		t.Fatalf("second Run() = %+v, %v, stdout %q; want exit 0 and hello", got.res, got.err, stdout)
	}
	if n := len(l.started); n != 0 {
		t.Errorf("the module was loaded %d more times, want once", n)
	}
}

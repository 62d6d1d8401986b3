package dockerfallback

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/bacalhau-project/bacalhau-wasm/dockerfallback/dockertest"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// testImage is built by scripts/test-images.sh (FROM scratch, Debian's static busybox).
const testImage = "bacalhau-test/busybox"

// newTestExecutor connects to the Docker engine and builds the test image; without an
// engine it fails under CI=true and skips elsewhere.
func newTestExecutor(t *testing.T) *Executor {
	t.Helper()
	return newTestExecutorWith(t, Options{})
}

// newTestExecutorWith is newTestExecutor with opts (Dir and Owner are the test's).
func newTestExecutorWith(t *testing.T, opts Options) *Executor {
	t.Helper()
	if testing.Short() {
		t.Skip("runs containers")
	}
	dir := t.TempDir()
	opts.Dir, opts.Owner = filepath.Join(dir, "docker"), dir
	x, err := New(context.Background(), opts)
	if err != nil {
		msg := err.Error() + ": the Docker tests need a running Docker engine (apt-get install docker.io) and busybox-static"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { x.Close(context.Background()) })
	if out, err := exec.Command("../scripts/test-images.sh").CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", testImage, err, out)
	}
	return x
}

// containerEvents records the engine's events about the containers of x's owner.
type containerEvents struct {
	mu   sync.Mutex
	msgs []events.Message
	seen chan events.Message // each event as it comes, when there is room
}

// watchEvents records the engine's container events for x's owner until the test ends.
func watchEvents(t *testing.T, x *Executor) *containerEvents {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	msgs, errs := x.cli.Events(ctx, events.ListOptions{Filters: filters.NewArgs(
		filters.Arg("type", "container"), filters.Arg("label", LabelOwner+"="+x.opts.Owner))})
	ev := &containerEvents{seen: make(chan events.Message, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case m := <-msgs:
				ev.mu.Lock()
				ev.msgs = append(ev.msgs, m)
				ev.mu.Unlock()
				select {
				case ev.seen <- m:
				default:
				}
			case <-errs:
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ev
}

// at is when the first event named action happened (engine clock), and whether it did.
func (ev *containerEvents) at(action events.Action) (time.Time, events.Message, bool) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for _, m := range ev.msgs {
		if m.Action == action {
			return time.Unix(0, m.TimeNano), m, true
		}
	}
	return time.Time{}, events.Message{}, false
}

// waitFor waits (bounded) until an event named action is recorded.
func (ev *containerEvents) waitFor(t *testing.T, action events.Action, within time.Duration) time.Time {
	t.Helper()
	deadline := time.After(within)
	for {
		if at, _, ok := ev.at(action); ok {
			return at
		}
		select {
		case <-ev.seen:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %q event within %s", action, within)
		}
	}
}

func sleepTask(t *testing.T, id string, timeout time.Duration) executor.Task {
	out := filepath.Join(t.TempDir(), "outputs")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	return executor.Task{
		JobID: "j-" + id, ExecutionID: "e-" + id,
		Spec: job.Spec{Engine: job.EngineDocker, Timeout: job.Duration(timeout),
			Docker: &job.DockerTask{Image: testImage, Args: []string{"sleep", "3600"}, Network: job.NetworkNone}},
		OutputsDir: out, Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{},
	}
}

// started runs Execute(ctx, task) in the background, waits for its container to start
// and returns the container's State.StartedAt (engine clock) and Execute's answer.
func started(t *testing.T, ctx context.Context, x *Executor, ev *containerEvents, task executor.Task) (time.Time, <-chan execResult) {
	t.Helper()
	done := make(chan execResult, 1)
	go func() {
		res, err := x.Execute(ctx, task)
		done <- execResult{res, err}
	}()
	ev.waitFor(t, events.ActionStart, 60*time.Second)
	_, m, _ := ev.at(events.ActionStart)
	st, err := x.cli.ContainerInspect(context.Background(), m.Actor.ID)
	if err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse(time.RFC3339Nano, st.State.StartedAt)
	if err != nil {
		t.Fatal(err)
	}
	return at, done
}

type execResult struct {
	res executor.Result
	err error
}

// checkKilled checks, by the engine's own events, that the container was killed with
// SIGKILL alone (no polite signal first), died, and was removed before Execute
// returned; it returns when the container died (engine clock: after its FinishedAt).
func checkKilled(t *testing.T, x *Executor, ev *containerEvents, execID string) (die time.Time) {
	t.Helper()
	left, err := x.cli.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", LabelExecution+"="+execID))})
	if err != nil || len(left) != 0 {
		t.Fatalf("container still there once Execute returned: %v %v", left, err)
	}
	start := ev.waitFor(t, events.ActionStart, 10*time.Second)
	kill := ev.waitFor(t, events.ActionKill, 10*time.Second)
	die = ev.waitFor(t, events.ActionDie, 10*time.Second)
	destroy := ev.waitFor(t, events.ActionDestroy, 10*time.Second)
	ev.mu.Lock()
	for _, m := range ev.msgs {
		if m.Action == events.ActionKill && m.Actor.Attributes["signal"] != "9" {
			t.Errorf("the container was sent signal %s: want 9 (SIGKILL) alone", m.Actor.Attributes["signal"])
		}
	}
	ev.mu.Unlock()
	t.Logf("engine events: start→kill %s, kill→die %s, die→destroy %s", kill.Sub(start), die.Sub(kill), destroy.Sub(die))
	return die
}

// TestExecuteTimeoutKills: sleep 3600 with a 2 s timeout is killed by SIGKILL at its
// deadline, counted from the container's start, and removed before Execute returns.
func TestExecuteTimeoutKills(t *testing.T) {
	x := newTestExecutor(t)
	ev := watchEvents(t, x)
	const timeout = 2 * time.Second
	task := sleepTask(t, "timeout", timeout)
	t0 := time.Now()
	startedAt, done := started(t, context.Background(), x, ev, task)
	r := <-done
	took := time.Since(t0)
	if r.err != nil || r.res.Outcome != job.OutcomeTimeout {
		t.Fatalf("Execute = %+v, %v; want outcome %s", r.res, r.err, job.OutcomeTimeout)
	}
	die := checkKilled(t, x, ev, task.ExecutionID)
	// The container's own run, by the engine's clock: its full timeout, and not much
	// more (a kill that waits for a grace period, or a timer started late, shows here).
	ran := die.Sub(startedAt)
	if ran < timeout || ran > timeout+time.Second {
		t.Errorf("the container ran %s with a timeout of %s; want from %s to %s", ran, timeout, timeout, timeout+time.Second)
	}
	t.Logf("container ran %s (timeout %s): died %s past its deadline; Execute took %s (Prepare %s, Run %s)",
		ran, timeout, ran-timeout, took, r.res.Prepare, r.res.Run)
}

// TestExecuteCancelKills: a cancelled execution's container is killed by SIGKILL at
// once and removed before Execute returns.
func TestExecuteCancelKills(t *testing.T) {
	x := newTestExecutor(t)
	ev := watchEvents(t, x)
	task := sleepTask(t, "cancel", time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, done := started(t, ctx, x, ev, task)
	time.Sleep(500 * time.Millisecond)
	cancelled := time.Now()
	cancel()
	r := <-done
	returned := time.Since(cancelled)
	if r.err != nil || r.res.Outcome != job.OutcomeCancelled {
		t.Fatalf("Execute = %+v, %v; want outcome %s", r.res, r.err, job.OutcomeCancelled)
	}
	die := checkKilled(t, x, ev, task.ExecutionID)
	if d := die.Sub(cancelled); d > time.Second {
		t.Errorf("the container died %s after the cancel; want within 1s", d)
	}
	t.Logf("cancel→die %s; cancel→Execute returned (container removed) %s", die.Sub(cancelled), returned)
}

// TestPullCredentials: an image on a registry that wants credentials is pulled with
// those the Docker config of the node's user holds for it ($DOCKER_CONFIG, as the
// docker CLI reads it): in its auths, or from its credential helper.
func TestPullCredentials(t *testing.T) {
	x := newTestExecutor(t)
	reg := dockertest.NewRegistry(t, testImage, dockertest.Options{User: "ci", Password: "s3cret"})
	helpers := t.TempDir()
	// A credential helper as docker-credential-* speak: the server on stdin, JSON out.
	helper := "#!/bin/sh\nread server\n[ \"$1\" = get ] && [ \"$server\" = \"" + reg.Host + "\" ] || { echo 'credentials not found in native keychain'; exit 1; }\n" +
		"echo '{\"ServerURL\":\"" + reg.Host + "\",\"Username\":\"ci\",\"Secret\":\"s3cret\"}'\n"
	if err := os.WriteFile(filepath.Join(helpers, "docker-credential-dockertest"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", helpers+string(os.PathListSeparator)+os.Getenv("PATH"))
	auth := base64.StdEncoding.EncodeToString([]byte("ci:s3cret"))
	for _, tt := range []struct{ name, config string }{
		{"auths", `{"auths": {"` + reg.Host + `": {"auth": "` + auth + `"}}}`},
		{"auths keyed by URL", `{"auths": {"http://` + reg.Host + `/v2/": {"auth": "` + auth + `"}}}`},
		{"credential helper", `{"credHelpers": {"` + reg.Host + `": "dockertest"}}`},
		{"credential store", `{"credsStore": "dockertest"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("DOCKER_CONFIG", dir)
			ref := reg.Ref("private")
			var notes []string
			err := x.Prepare(context.Background(), executor.Preparation{
				Spec: job.Spec{Engine: job.EngineDocker, Docker: &job.DockerTask{Image: ref}},
				Note: func(msg string) { notes = append(notes, msg) },
			})
			if err != nil || len(notes) != 1 || !strings.HasPrefix(notes[0], "preparing: pulled image "+ref+" in ") {
				t.Fatalf("Prepare = %v, notes %q", err, notes)
			}
		})
	}
	// Without credentials the registry refuses the pull, and the error names the image.
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	ref := reg.Ref("private")
	err := x.Prepare(context.Background(), executor.Preparation{
		Spec: job.Spec{Engine: job.EngineDocker, Docker: &job.DockerTask{Image: ref}}, Note: func(string) {}})
	if err == nil || !strings.Contains(err.Error(), ref) {
		t.Fatalf("Prepare without credentials = %v", err)
	}
	if refused, ok := reg.Requests(); refused == 0 || ok == 0 {
		t.Fatalf("the registry refused %d requests and let %d through", refused, ok)
	}
}

// TestRegistryHost: the registry of a reference, as the engine reads it, and the keys
// of a config's auths that name it.
func TestRegistryHost(t *testing.T) {
	for ref, want := range map[string]string{
		"ubuntu": "docker.io", "library/ubuntu:22.04": "docker.io", "user/img": "docker.io",
		"ghcr.io/o/img:1": "ghcr.io", "localhost/img": "localhost", "127.0.0.1:5000/img@sha256:ab": "127.0.0.1:5000",
		"index.docker.io/library/ubuntu": "docker.io",
	} {
		if got := registryHost(ref); got != want {
			t.Errorf("registryHost(%q) = %q, want %q", ref, got, want)
		}
	}
	for key, want := range map[string]string{
		hubServer: "docker.io", "ghcr.io": "ghcr.io", "https://ghcr.io/v2/": "ghcr.io", "http://127.0.0.1:5000": "127.0.0.1:5000",
	} {
		if got := hostOf(key); got != want {
			t.Errorf("hostOf(%q) = %q, want %q", key, got, want)
		}
	}
}

// TestPullTimeout: a pull from a registry that does not answer fails at
// Options.PullTimeout, naming the image: never a hang.
func TestPullTimeout(t *testing.T) {
	const limit = time.Second
	x := newTestExecutorWith(t, Options{PullTimeout: limit})
	reg := dockertest.NewRegistry(t, testImage, dockertest.Options{Delay: time.Hour})
	ref := reg.Ref("stalled")
	t0 := time.Now()
	err := x.Prepare(context.Background(), executor.Preparation{
		Spec: job.Spec{Engine: job.EngineDocker, Docker: &job.DockerTask{Image: ref}}, Note: func(string) {}})
	took := time.Since(t0)
	if err == nil || !strings.Contains(err.Error(), "image "+ref+" is not on this node and pulling it took over 1s") {
		t.Fatalf("Prepare from a stalled registry = %v", err)
	}
	if took > limit+10*time.Second {
		t.Fatalf("Prepare returned %s after it started, with a pull timeout of %s", took, limit)
	}
	t.Logf("failed after %s: %v", took, err)
}

package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api/upstream"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api/upstream/upstreamtest"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// logJobs has one job whose output is written before the request (early) and, for a
// follower, once release is closed (late), after which the job ends.
type logJobs struct {
	memJobs
	release chan struct{}
}

var early = [][2]string{{"stdout", "a\nb"}, {"stderr", "oops\n"}, {"stdout", "c\n" + strings.Repeat("x", MaxLogLine+10) + "\n"}}

func (l *logJobs) Logs(ctx context.Context, id string, follow bool, fn func(string, []byte) error) error {
	if _, err := l.Get(ctx, id); err != nil {
		return err
	}
	for _, c := range early {
		if err := fn(c[0], []byte(c[1])); err != nil {
			return err
		}
	}
	if !follow {
		return nil
	}
	select {
	case <-l.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return fn("stdout", []byte("late\nend"))
}

func newLogServer(t *testing.T, cfg Config) (*httptest.Server, *logJobs, string) {
	t.Helper()
	jobs := &logJobs{release: make(chan struct{})}
	j, err := jobs.Submit(context.Background(), job.Spec{Engine: job.EngineDocker, Docker: &job.DockerTask{Image: "ubuntu"}})
	if err != nil {
		t.Fatal(err)
	}
	j.Executions = append(j.Executions, job.Execution{ID: "e-1", State: job.StateRunning})
	srv := httptest.NewServer(New(cfg, jobs, nil, oneNode{}).Handler())
	t.Cleanup(srv.Close)
	return srv, jobs, j.ID
}

func dialLogs(t *testing.T, srv *httptest.Server, id, query string) *websocket.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1/orchestrator/jobs/" + id + "/logs?" + query
	conn, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		body := ""
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
		}
		t.Fatalf("dial %s: %v %s", u, err, body)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// readFrames reads frames until the server closes the websocket, which must be a
// normal close.
func readFrames(t *testing.T, conn *websocket.Conn) []upstream.LogFrame {
	t.Helper()
	var frames []upstream.LogFrame
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		_, b, err := conn.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != websocket.CloseNormalClosure {
				t.Errorf("closed with %d %q, want a normal close", ce.Code, ce.Text)
			}
			return frames
		}
		if err != nil {
			t.Fatalf("after %d frames: %v", len(frames), err)
		}
		shape := recorded + "log_frame.json"
		if strings.Contains(string(b), `"error"`) {
			shape = recorded + "log_error_frame.json"
		}
		upstreamtest.SameShape(t, shape, b)
		var f upstream.LogFrame
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
}

func text(frames []upstream.LogFrame) string {
	var b strings.Builder
	for _, f := range frames {
		if f.Error != "" {
			b.WriteString("error: " + f.Error + "\n")
			continue
		}
		b.WriteString([]string{"?", "out", "err"}[f.Value.Type] + " " + strings.ReplaceAll(f.Value.Line, strings.Repeat("x", 100), "X") + "|")
	}
	return b.String()
}

// TestUpstreamLogs: upstream's logs route over a real websocket: a job's lines come
// one a frame in upstream's shape (a line longer than MaxLogLine in two), the stream
// closes normally when the output ends, or, with follow, when the job does; tail skips
// what was written before; an unknown job or execution is an error frame, and a plain
// HTTP request an error in upstream's body shape.
func TestUpstreamLogs(t *testing.T) {
	srv, jobs, id := newLogServer(t, Config{})
	long := strings.Repeat("X", MaxLogLine/100) + strings.Repeat("x", MaxLogLine%100)
	rest := strings.Repeat("x", 10)
	// stdout's lines in order, stderr's in order; "b" waits for the rest of its line
	want := "out a\n|err oops\n|out bc\n|out " + long + "|out " + rest + "\n|"
	if got := text(readFrames(t, dialLogs(t, srv, id, ""))); got != want {
		t.Errorf("frames:\n got %q\nwant %q", got, want)
	}

	conn := dialLogs(t, srv, id, "follow=true&execution_id=e-1")
	go func() { time.Sleep(100 * time.Millisecond); close(jobs.release) }()
	if got := text(readFrames(t, conn)); !strings.HasSuffix(got, "out late\n|out end|") || !strings.HasPrefix(got, "out a\n|err oops\n|") {
		t.Errorf("follow: %q", got)
	}

	if got := text(readFrames(t, dialLogs(t, srv, id, "follow=true&tail=true"))); got != "out late\n|out end|" {
		t.Errorf("follow and tail: %q", got)
	}

	for q, want := range map[string]string{"": "job not found", "execution_id=e-2": "execution e-2 is not an execution of job"} {
		path := id
		if q == "" {
			path = "j-00000000"
		}
		frames := readFrames(t, dialLogs(t, srv, path, q))
		if len(frames) != 1 || !strings.Contains(frames[0].Error, want) {
			t.Errorf("%s %s: frames %+v, want one error frame with %q", path, q, frames, want)
		}
	}

	for path, want := range map[string]struct {
		status int
		code   string
	}{"j-00000000": {404, "NotFound"}, id: {400, "BadRequest"}} {
		code, body := call(t, srv, "GET", "/api/v1/orchestrator/jobs/"+path+"/logs", "")
		var e upstream.Error
		if err := json.Unmarshal(body, &e); err != nil || code != want.status || e.Code != want.code {
			t.Errorf("plain GET %s: %d %s, want %d %s", path, code, body, want.status, want.code)
		}
		upstreamtest.SameShape(t, recorded+"error_response.json", body)
	}
	if code, body := call(t, srv, "GET", "/api/v1/orchestrator/jobs/"+id+"/logs?follow=maybe", ""); code != 400 || !strings.Contains(string(body), "follow") {
		t.Errorf("follow=maybe: %d %s", code, body)
	}
}

// TestUpstreamLogsBound: past Config.MaxLogStreams open streams a websocket request is
// refused with 429 in upstream's error shape; when one ends, the next is taken.
func TestUpstreamLogsBound(t *testing.T) {
	srv, jobs, id := newLogServer(t, Config{MaxLogStreams: 1})
	first := dialLogs(t, srv, id, "follow=true")
	if _, _, err := first.ReadMessage(); err != nil { // the stream is under way
		t.Fatal(err)
	}
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1/orchestrator/jobs/" + id + "/logs"
	_, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second stream: %v %+v, want a 429", err, resp)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "--api-max-log-streams") {
		t.Errorf("429 body: %s", body)
	}
	upstreamtest.SameShape(t, recorded+"error_response.json", body)
	close(jobs.release)
	readFrames(t, first)
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, _, err := websocket.DefaultDialer.Dial(u, nil)
		if err == nil {
			readFrames(t, conn)
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stream taken after the first ended: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FuzzLineSplitter: any chunks of output come out as frames that put back together
// are the output, each at most MaxLogLine bytes and ending with a newline but for the
// last.
func FuzzLineSplitter(f *testing.F) {
	f.Add([]byte("a\nb"), []byte("c\n\n"), uint16(3))
	f.Add([]byte(strings.Repeat("y", MaxLogLine+1)), []byte("\n"), uint16(0))
	f.Fuzz(func(t *testing.T, a, b []byte, cut uint16) {
		var frames []string
		l := lineSplitter{typ: 1, send: func(fr upstream.LogFrame) error {
			frames = append(frames, fr.Value.Line)
			return nil
		}}
		in := append(append([]byte{}, a...), b...)
		if !strings.Contains(string(in), "\uFFFD") && strings.ToValidUTF8(string(in), "") != string(in) {
			return // invalid UTF-8 is replaced; the rest of the property holds for valid text
		}
		c := min(int(cut), len(in))
		if l.write(in[:c]) != nil || l.write(in[c:]) != nil || l.flush() != nil {
			t.Fatal("send never fails here")
		}
		if strings.Join(frames, "") != string(in) {
			t.Fatalf("frames %q put together are not %q", frames, in)
		}
		for i, fr := range frames {
			if len(fr) > MaxLogLine || len(fr) == 0 || (i < len(frames)-1 && !strings.HasSuffix(fr, "\n") && len(fr) < MaxLogLine-utf8.UTFMax) {
				t.Fatalf("frame %d of %d: %d bytes %q", i, len(frames), len(fr), fr)
			}
		}
	})
}

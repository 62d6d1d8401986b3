package main

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api/upstream"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api/upstream/upstreamtest"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// v1Logs dials upstream's logs websocket of the node, as upstream's `job logs` does,
// and reads frames until the node closes it, which must be a normal close.
func (n *testNode) v1Logs(id, query string) []upstream.LogFrame {
	n.t.Helper()
	u := "ws://127.0.0.1:" + strconv.Itoa(n.port) + "/api/v1/orchestrator/jobs/" + id + "/logs?" + query
	conn, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		n.t.Fatalf("dial %s: %v", u, err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
	var frames []upstream.LogFrame
	for {
		_, b, err := conn.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != websocket.CloseNormalClosure {
				n.t.Errorf("%s: closed with %d %q", u, ce.Code, ce.Text)
			}
			return frames
		}
		if err != nil {
			n.t.Fatalf("%s: after %d frames: %v", u, len(frames), err)
		}
		shape := recordedUpstream + "log_frame.json"
		if strings.Contains(string(b), `"error"`) {
			shape = recordedUpstream + "log_error_frame.json"
		}
		upstreamtest.SameShape(n.t, shape, b)
		var f upstream.LogFrame
		if err := json.Unmarshal(b, &f); err != nil {
			n.t.Fatal(err)
		}
		frames = append(frames, f)
	}
}

func stdoutOf(frames []upstream.LogFrame) string {
	var b strings.Builder
	for _, f := range frames {
		if f.Value.Type == upstream.ExecutionLogTypeStdout {
			b.WriteString(f.Value.Line)
		}
	}
	return b.String()
}

// TestAPIUpstreamLogs: upstream's logs websocket on a real node, read with a real
// websocket client: a completed job's stdout lines arrive one a frame in upstream's
// shape and the stream closes; with follow, a running job's lines arrive as it writes
// them and the stream closes when it ends; tail with follow skips what was written
// before; an unknown job is upstream's error frame, or, over plain HTTP, its error body.
func TestAPIUpstreamLogs(t *testing.T) {
	n := startNode(t)
	hello := field(n.ok("wasm", "run", guestPath["hello"]), "Job ID")
	frames := n.v1Logs(hello, "")
	if len(frames) != 1 || frames[0].Value != (upstream.ExecutionLog{Type: upstream.ExecutionLogTypeStdout, Line: "Hello, world!\n"}) {
		t.Errorf("hello's frames: %+v", frames)
	}

	failed := runFails(t, n, guestPath["faulty"], "--", "exit", "3")
	frames = n.v1Logs(failed.ID, "execution_id="+failed.Executions[0].ID)
	if len(frames) != 2 || frames[0].Value != (upstream.ExecutionLog{Type: 1, Line: "partial output before failing\n"}) ||
		frames[1].Value != (upstream.ExecutionLog{Type: 2, Line: "something went wrong\n"}) {
		t.Errorf("stdout and stderr frames: %+v", frames)
	}

	ticker := strings.TrimSpace(n.ok("wasm", "run", guestPath["faulty"], "--wait=false", "--id-only", "--", "tick", "5"))
	frames = n.v1Logs(ticker, "follow=true")
	if got, want := stdoutOf(frames), "tick 0\ntick 1\ntick 2\ntick 3\ntick 4\n"; got != want || len(frames) != 5 {
		t.Errorf("follow: %d frames, stdout %q, want %q", len(frames), got, want)
	}
	if j, err := n.client().Get(t.Context(), ticker); err != nil || j.State != job.StateCompleted {
		t.Errorf("the followed job is not over when the stream closes: %v %v", j, err)
	}
	if frames := n.v1Logs(ticker, "follow=true&tail=true"); len(frames) != 0 {
		t.Errorf("tail of an ended job: %+v", frames)
	}

	frames = n.v1Logs("j-00000000-0000-0000-0000-000000000000", "follow=true")
	if len(frames) != 1 || !strings.Contains(frames[0].Error, "not found") {
		t.Errorf("unknown job: %+v", frames)
	}
	code, body := n.v1Call("GET", "/api/v1/orchestrator/jobs/j-00000000-0000-0000-0000-000000000000/logs", "")
	if code != 404 || !strings.Contains(string(body), `"Code":"NotFound"`) {
		t.Errorf("unknown job over plain HTTP: %d %s", code, body)
	}
	upstreamtest.SameShape(t, recordedUpstream+"error_response.json", body)
}

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api/upstream"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Upstream's GET /api/v1/orchestrator/jobs/:id/logs: a websocket over which a job's
// stdout and stderr come as JSON frames, one line each (upstream.LogFrame), from the
// same source as /api/v1/jobs/:id/logs. Query parameters, as upstream's client sends
// them: follow (keep the stream open while the job runs; it closes when the job ends),
// tail (skip what the job had written when the request came: with follow, only new
// lines), execution_id (one of the job's executions; the job's output is one
// execution's here).
//
// Errors once the websocket is open (an unknown job or execution) are sent as upstream
// sends them, a last frame with "error", then a normal close. A request that is not a
// websocket upgrade gets an HTTP error in upstream's body shape.

// Bounds of the log websockets.
const (
	// DefaultMaxLogStreams bounds the log websockets open at once (Config.MaxLogStreams).
	DefaultMaxLogStreams = 32
	// LogWriteTimeout is how long one frame may take to reach a client that does not
	// read: past it the stream is closed.
	LogWriteTimeout = 30 * time.Second
	// MaxLogLine is the longest line one frame carries; a longer one is cut into
	// frames of this size.
	MaxLogLine = 64 << 10
	// maxLogClientMessage bounds what the node reads from the client (it expects only
	// control frames).
	maxLogClientMessage = 4 << 10
)

var logUpgrader = websocket.Upgrader{
	ReadBufferSize:  1 << 10,
	WriteBufferSize: 16 << 10,
	// guardOrigin has refused web pages whose origin the node does not allow already;
	// the CLI and scripts send no Origin.
	CheckOrigin: func(*http.Request) bool { return true },
}

func (s *Server) v1Logs(c echo.Context) error {
	r := c.Request()
	follow, err := boolParam(c, "follow")
	if err != nil {
		return err
	}
	tail, err := boolParam(c, "tail")
	if err != nil {
		return err
	}
	if !websocket.IsWebSocketUpgrade(r) {
		if _, err := s.jobs.Get(r.Context(), c.Param("id")); err != nil {
			return err
		}
		return apiError(http.StatusBadRequest, api.CodeInvalidRequest,
			"this route streams a job's logs over a websocket (as upstream's `bacalhau job logs` asks); plain HTTP clients use /api/v1/jobs/"+c.Param("id")+"/logs")
	}
	select {
	case s.logStreams <- struct{}{}:
		defer func() { <-s.logStreams }()
	default:
		return apiError(http.StatusTooManyRequests, api.CodeTooManyRequests,
			"the node streams as many job logs as it allows at once (--api-max-log-streams); try again when one has ended")
	}
	conn, err := logUpgrader.Upgrade(c.Response(), r, nil)
	if err != nil {
		return nil // the upgrader answered the client already
	}
	defer conn.Close()
	// The connection is the node's now: the request's context no longer ends when the
	// client goes. A reader notices that (and answers pings and the close).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn.SetReadLimit(maxLogClientMessage)
	go func() {
		defer cancel()
		for {
			if _, _, err := conn.NextReader(); err != nil {
				return
			}
		}
	}()
	w := &logFrames{conn: conn}
	err = s.streamV1Logs(ctx, c.Param("id"), c.QueryParam("execution_id"), follow, tail, w)
	if err != nil && ctx.Err() == nil {
		_ = w.send(upstream.LogFrame{Error: err.Error()})
	}
	if ctx.Err() == nil {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		select { // the client's close answers ours; give it a moment
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

// streamV1Logs sends the job's output to w, line by line.
func (s *Server) streamV1Logs(ctx context.Context, id, execID string, follow, tail bool, w *logFrames) error {
	j, err := s.jobs.Get(ctx, id)
	if err != nil {
		return err
	}
	if execID != "" && !hasExecution(j, execID) {
		return apiError(http.StatusNotFound, api.CodeNotFound, "execution "+execID+" is not an execution of job "+j.ID)
	}
	var skip [2]int64 // per stream: bytes written before the request, for tail
	if tail {
		err := s.jobs.Logs(ctx, j.ID, false, func(stream string, data []byte) error {
			skip[streamIndex(stream)] += int64(len(data))
			return nil
		})
		if err != nil {
			return err
		}
	}
	var lines [2]lineSplitter
	for i := range lines {
		lines[i] = lineSplitter{typ: i + 1, send: w.send}
	}
	err = s.jobs.Logs(ctx, j.ID, follow, func(stream string, data []byte) error {
		i := streamIndex(stream)
		if n := min(skip[i], int64(len(data))); n > 0 {
			skip[i] -= n
			data = data[n:]
		}
		return lines[i].write(data)
	})
	for i := range lines {
		if ferr := lines[i].flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func hasExecution(j *job.Job, id string) bool {
	for _, e := range j.Executions {
		if e.ID == id {
			return true
		}
	}
	return false
}

// streamIndex is 0 for stdout, 1 for stderr (upstream's types less one).
func streamIndex(stream string) int {
	if stream == "stderr" {
		return 1
	}
	return 0
}

// lineSplitter turns one stream's chunks into frames of whole lines, each at most
// MaxLogLine bytes.
type lineSplitter struct {
	typ  int
	buf  []byte
	send func(upstream.LogFrame) error
}

func (l *lineSplitter) write(data []byte) error {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			l.buf = append(l.buf, data...)
			return l.emitLong(MaxLogLine)
		}
		l.buf = append(l.buf, data[:i+1]...)
		data = data[i+1:]
		if err := l.emitLong(MaxLogLine + 1); err != nil {
			return err
		}
		if err := l.emit(l.buf); err != nil {
			return err
		}
		l.buf = l.buf[:0]
	}
	return nil
}

// emitLong sends MaxLogLine bytes at a time (less, to end at a character boundary)
// while at least atLeast bytes are buffered.
func (l *lineSplitter) emitLong(atLeast int) error {
	for len(l.buf) >= atLeast {
		cut := MaxLogLine
		for k := cut; k < len(l.buf) && k > MaxLogLine-utf8.UTFMax; k-- {
			if utf8.RuneStart(l.buf[k]) {
				cut = k
				break
			}
		}
		if err := l.emit(l.buf[:cut]); err != nil {
			return err
		}
		l.buf = append(l.buf[:0], l.buf[cut:]...)
	}
	return nil
}

// flush sends what is left of the last line.
func (l *lineSplitter) flush() error {
	if len(l.buf) == 0 {
		return nil
	}
	err := l.emit(l.buf)
	l.buf = nil
	return err
}

func (l *lineSplitter) emit(line []byte) error {
	return l.send(upstream.LogFrame{Value: upstream.ExecutionLog{Type: l.typ, Line: strings.ToValidUTF8(string(line), "\uFFFD")}})
}

// logFrames writes frames to a websocket, each within LogWriteTimeout.
type logFrames struct {
	conn *websocket.Conn
}

func (w *logFrames) send(f upstream.LogFrame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	_ = w.conn.SetWriteDeadline(time.Now().Add(LogWriteTimeout))
	if err := w.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		return errors.Join(errClientGone, err)
	}
	return nil
}

var errClientGone = errors.New("server: the log stream's client is gone or does not read")

package dht

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// MaxStreamMessageSize bounds a request or a response on a direct stream, except the
// responses of a protocol served with HandleLimit, which its limit bounds.
const MaxStreamMessageSize = 64 << 10

// DefaultRequestTimeout bounds a Request whose ctx has no deadline, and the time a
// handler gets to read, answer and write.
const DefaultRequestTimeout = 10 * time.Second

const maxRemoteError = 1024

// maxCode bounds frame.Code.
const maxCode = 32

// frame is one message on a stream: the request, or the response or an error. Code
// classes the error (see errorCode); peers before it send none, and ignore it.
type frame struct {
	V     int             `json:"v"`
	Body  json.RawMessage `json:"body,omitempty"`
	Error string          `json:"error,omitempty"`
	Code  string          `json:"code,omitempty"`
}

// Handler answers one request from peer from. An error is sent back to the requester
// as its text and code (of ErrGivenUp, ErrInvalid, ... if it wraps one), a *RemoteError
// there: keep it fit for another node to read.
type Handler[Req, Resp any] func(ctx context.Context, from peer.ID, req *Req) (*Resp, error)

// validator is implemented by request and response types that can check themselves.
type validator interface{ Validate() error }

// Handle serves request/response exchanges of protocol proto on n: one JSON request,
// one JSON response per stream, each at most MaxStreamMessageSize, within
// DefaultRequestTimeout. A Req with a Validate method is validated before h sees it.
func Handle[Req, Resp any](n *Peer, proto protocol.ID, h Handler[Req, Resp]) {
	HandleLimit(n, proto, MaxStreamMessageSize, h)
}

// HandleLimit is Handle with responses of up to limit bytes (requests are still at
// most MaxStreamMessageSize). The requester must read them with the same limit
// (RequestLimit).
func HandleLimit[Req, Resp any](n *Peer, proto protocol.ID, limit int, h Handler[Req, Resp]) {
	n.host.SetStreamHandler(proto, func(s network.Stream) {
		if !n.goTrack(func() { serve(n, s, limit, h) }) {
			s.Reset()
		}
	})
}

func serve[Req, Resp any](n *Peer, s network.Stream, limit int, h Handler[Req, Resp]) {
	ctx, cancel := context.WithTimeout(n.ctx, DefaultRequestTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	_ = s.SetDeadline(time.Now().Add(DefaultRequestTimeout))

	reply := func(body any, herr error) {
		f := frame{V: WireVersion}
		if herr != nil {
			f.Error, f.Code = herr.Error(), errorCode(herr)
			if len(f.Error) > maxRemoteError {
				f.Error = strings.ToValidUTF8(f.Error[:maxRemoteError], "")
			}
		} else if b, err := json.Marshal(body); err != nil {
			f.Error, f.Code = "cannot encode response", CodeInternal
		} else if len(b) > limit-64 {
			f.Error, f.Code = fmt.Sprintf("response too large: %d bytes, limit %d", len(b), limit), CodeInternal
		} else {
			f.Body = b
		}
		if err := writeFrame(s, f, limit); err != nil {
			s.Reset()
			return
		}
		s.Close()
	}
	req := new(Req)
	if err := readFrame(s, req, MaxStreamMessageSize); err != nil {
		reply(nil, err)
		return
	}
	resp, err := h(ctx, s.Conn().RemotePeer(), req)
	if err == nil && resp == nil {
		err = fmt.Errorf("%w: no response", ErrInternal)
	}
	reply(resp, err)
}

// Request sends req to peer to over a new stream of protocol proto and returns the
// answer. The exchange is bound by ctx, or DefaultRequestTimeout if ctx has no deadline.
// A Resp with a Validate method is validated before it is returned.
func Request[Req, Resp any](ctx context.Context, n *Peer, to peer.ID, proto protocol.ID, req *Req) (*Resp, error) {
	return RequestLimit[Req, Resp](ctx, n, to, proto, req, MaxStreamMessageSize)
}

// RequestLimit is Request reading a response of up to limit bytes, for a protocol
// served with HandleLimit.
func RequestLimit[Req, Resp any](ctx context.Context, n *Peer, to peer.ID, proto protocol.ID, req *Req, limit int) (*Resp, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultRequestTimeout)
		defer cancel()
	}
	if v, ok := any(req).(validator); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	s, err := n.host.NewStream(ctx, to, proto)
	if err != nil {
		return nil, fmt.Errorf("dht: stream to %s: %w", to, err)
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if d, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(d)
	}
	if err := writeFrame(s, frame{V: WireVersion, Body: body}, MaxStreamMessageSize); err != nil {
		s.Reset()
		return nil, fmt.Errorf("dht: request to %s: %w", to, ctxErr(ctx, err))
	}
	resp := new(Resp)
	if err := readFrame(s, resp, limit); err != nil {
		s.Reset()
		return nil, fmt.Errorf("dht: response from %s: %w", to, ctxErr(ctx, err))
	}
	s.Close()
	return resp, nil
}

// ctxErr prefers the context's error, since a reset by the AfterFunc hides it.
// The stream deadline is the ctx deadline, and may fire first: count it as the ctx's.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return err
}

func writeFrame(s network.Stream, f frame, limit int) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if len(b) > limit {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), limit)
	}
	if _, err := s.Write(b); err != nil {
		return err
	}
	return s.CloseWrite()
}

// readFrame reads one frame up to EOF and decodes its body into v; a frame carrying an
// error comes back as a *RemoteError.
func readFrame(s network.Stream, v any, limit int) error {
	b, err := io.ReadAll(io.LimitReader(s, int64(limit)+1))
	if err != nil {
		return err
	}
	f, err := decodeFrame(b, limit)
	if err != nil {
		return err
	}
	if f.Error != "" {
		return &RemoteError{Code: f.Code, Message: f.Error}
	}
	if err := StrictUnmarshal(f.Body, v); err != nil {
		return fmt.Errorf("%w: body: %v", ErrMalformed, err)
	}
	if val, ok := v.(validator); ok {
		return val.Validate()
	}
	return nil
}

// decodeFrame parses a stream frame: size, shape, version, an error text that is short
// UTF-8, and a code that is short snake_case and only beside an error.
func decodeFrame(b []byte, limit int) (frame, error) {
	var f frame
	if len(b) > limit {
		return f, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	if err := StrictUnmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%w: frame: %v", ErrMalformed, err)
	}
	if f.V != WireVersion {
		return f, fmt.Errorf("%w: %d (this node speaks %d)", ErrVersion, f.V, WireVersion)
	}
	if len(f.Error) > maxRemoteError || !utf8.ValidString(f.Error) {
		return f, fmt.Errorf("%w: error text is not UTF-8 of at most %d bytes", ErrMalformed, maxRemoteError)
	}
	if f.Error == "" && len(f.Body) == 0 {
		return f, fmt.Errorf("%w: frame with neither body nor error", ErrMalformed)
	}
	if f.Code != "" && (f.Error == "" || !validCode(f.Code)) {
		return f, fmt.Errorf("%w: error code %q: want snake_case of at most %d bytes, beside an error", ErrMalformed, truncate(f.Code), maxCode)
	}
	return f, nil
}

// validCode accepts what an error code looks like, known or not: snake_case of at most
// maxCode bytes.
func validCode(c string) bool {
	if c == "" || len(c) > maxCode {
		return false
	}
	for _, r := range c {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

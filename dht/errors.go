package dht

import "errors"

// Errors returned by this package; wrapped with details, test them with errors.Is.
var (
	ErrConfig         = errors.New("dht: bad config")
	ErrIdentity       = errors.New("dht: identity key")
	ErrClosed         = errors.New("dht: node closed")
	ErrTooLarge       = errors.New("dht: message too large")
	ErrMalformed      = errors.New("dht: malformed message")
	ErrVersion        = errors.New("dht: unknown message version")
	ErrInvalid        = errors.New("dht: invalid message")
	ErrWrongTopic     = errors.New("dht: message does not belong on this topic")
	ErrUnsigned       = errors.New("dht: unsigned message")
	ErrAuthorMismatch = errors.New("dht: author mismatch")
	ErrReplay         = errors.New("dht: replayed message")
	ErrStale          = errors.New("dht: message time outside the accepted window")
	ErrRemote         = errors.New("dht: remote peer answered with an error")
)

// Errors a Handler wraps to give its error a class the requester can test for: the
// class crosses the stream as a code (see RemoteError). ErrInvalid and ErrClosed travel
// the same way, as CodeInvalid and CodeUnavailable. The codes are the v1 frame's
// vocabulary, given_up included: it is the job protocol's word (a requester no longer
// wants an execution), but a code needs both ends to agree on its sentinel, so it
// stays with the others.
var (
	ErrGivenUp     = errors.New("dht: execution given up")
	ErrUnavailable = errors.New("dht: peer unavailable")
	ErrInternal    = errors.New("dht: peer failed")
)

// Codes of the errors a handler answers with (frame.Code). A handler's error of no class
// below is sent without one, as peers before codes send every error.
const (
	CodeGivenUp     = "given_up"    // ErrGivenUp: the peer no longer wants this execution
	CodeInvalid     = "invalid"     // ErrInvalid: the request is malformed or does not validate
	CodeUnavailable = "unavailable" // ErrUnavailable: the peer cannot serve it now (closing, busy)
	CodeInternal    = "internal"    // ErrInternal: the peer failed to answer (its response could not be sent)
)

// codeErrors are the sentinel of each code.
var codeErrors = map[string]error{
	CodeGivenUp:     ErrGivenUp,
	CodeInvalid:     ErrInvalid,
	CodeUnavailable: ErrUnavailable,
	CodeInternal:    ErrInternal,
}

// errorCode is the code of a handler's error; "" for an error of no known class. (The
// job protocol's handlers, through jobproto.Handle, also send job.ErrInvalid as invalid.)
func errorCode(err error) string {
	switch {
	case errors.Is(err, ErrGivenUp):
		return CodeGivenUp
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrMalformed), errors.Is(err, ErrTooLarge), errors.Is(err, ErrVersion):
		return CodeInvalid
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrClosed):
		return CodeUnavailable
	case errors.Is(err, ErrInternal):
		return CodeInternal
	}
	return ""
}

// RemoteError is the error a peer's handler answered a Request with. It matches ErrRemote
// and the sentinel of its code (errors.Is(err, ErrGivenUp)); a code this node does not
// know, or none (a peer before codes), matches ErrRemote only.
type RemoteError struct {
	Code    string // one of the Code constants, another peer's newer one, or ""
	Message string // the handler's error text
}

func (e *RemoteError) Error() string { return ErrRemote.Error() + ": " + e.Message }

func (e *RemoteError) Is(target error) bool {
	return target == ErrRemote || e.Code != "" && codeErrors[e.Code] == target
}

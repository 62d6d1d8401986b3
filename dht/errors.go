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

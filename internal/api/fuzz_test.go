package api

import (
	"errors"
	"testing"
)

// FuzzErrorBody: whatever a node (or a proxy in front of it) answers with, the client's
// error has the status, a well-formed code and a message, and matches its code's
// sentinel.
func FuzzErrorBody(f *testing.F) {
	for _, s := range []string{`{"code":"not_found","error":"store: job not found: j-1"}`, `{"error":"old node"}`, `{"code":"","error":""}`,
		`{"code":"Bad Code","error":"x"}`, `{"code":5}`, `<html>`, ``, `null`, `{"code":"some_future_code","error":"y"}`} {
		f.Add(404, []byte(s))
		f.Add(400, []byte(s))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := decodeError(status, body, "GET /api/v1/x: 404 Not Found")
		if e.Status != status || !validCode(e.Code) || e.Message == "" {
			t.Fatalf("decodeError(%d, %q) = %#v", status, body, e)
		}
		if !errors.Is(e, &Error{Code: e.Code}) || errors.Is(e, &Error{Code: e.Code + "x"}) {
			t.Fatalf("%#v does not match its code's sentinel alone", e)
		}
	})
}

// TestSentinels: a sentinel matches the errors of its code only, and the codes are
// distinct.
func TestSentinels(t *testing.T) {
	all := []*Error{ErrInvalidRequest, ErrInvalidJSON, ErrInvalidSpec, ErrInvalidID, ErrAmbiguousID, ErrInvalidData, ErrForbiddenOrigin,
		ErrNotFound, ErrUnknownRoute, ErrMethodNotAllowed, ErrConflict, ErrPayloadTooLarge, ErrUnsupportedMediaType, ErrCanceled,
		ErrInternal, ErrRepoFull, ErrDiskFull}
	seen := map[string]bool{}
	for _, s := range all {
		if seen[s.Code] || !validCode(s.Code) {
			t.Errorf("code %q repeated or malformed", s.Code)
		}
		seen[s.Code] = true
		e := &Error{Status: 400, Code: s.Code, Message: "m"}
		for _, o := range all {
			if errors.Is(e, o) != (o == s) {
				t.Errorf("errors.Is(%s error, %s sentinel) = %v", s.Code, o.Code, !(o == s))
			}
		}
	}
	if errors.Is(&Error{Status: 404, Code: CodeNotFound}, &Error{Status: 404, Code: CodeNotFound}) {
		t.Error("two errors, neither a sentinel, match")
	}
}

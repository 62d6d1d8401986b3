package dht

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// seeds are valid encodings of each payload kind plus some near misses.
func seedMessages(f *testing.F) {
	id := newPeerID(f)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, p := range []Payload{&note{From: id, Text: "hello"}, &ping{From: id, N: 7}} {
		b, err := encodeMessage(p, 42, now)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{``, `null`, `{}`, `[]`, `{"v":1}`, `{"v":1,"kind":"test.note","seq":1,"time":"2026-01-01T00:00:00Z","body":null}`,
		`{"v":1,"kind":"test.note","seq":1,"time":"2026-01-01T00:00:00Z","body":{"from":"x"}}{}`, `{"v":2}`} {
		f.Add([]byte(s))
	}
}

// FuzzEnvelope: decoding never panics, and whatever decodes re-encodes to a message that
// decodes the same.
func FuzzEnvelope(f *testing.F) {
	seedMessages(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		e, p, err := testCodec.decodeMessage(b)
		if err != nil {
			return
		}
		again, err := encodeMessage(p, e.Seq, e.Time)
		if err != nil {
			t.Fatalf("decoded %q but cannot re-encode: %v", b, err)
		}
		e2, p2, err := testCodec.decodeMessage(again)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", again, err)
		}
		if e2.Seq != e.Seq || !e2.Time.Equal(e.Time) || !sameJSON(t, p, p2) {
			t.Fatalf("round trip changed the message: %q -> %q", b, again)
		}
	})
}

// FuzzStreamFrame: the request/response frame decoder never panics, never accepts a
// frame with neither body nor error, or a code that is malformed or beside no error; an
// accepted frame survives a round trip, and its error matches its code's sentinel.
func FuzzStreamFrame(f *testing.F) {
	for _, s := range []string{`{"v":1,"body":{"a":1}}`, `{"v":1,"error":"no"}`, `{"v":1}`, `{"v":2,"body":{}}`, `{"v":1,"body":{}} x`, ``,
		`{"v":1,"error":"execution given up","code":"given_up"}`, `{"v":1,"error":"x","code":"invalid"}`, `{"v":1,"error":"x","code":"new_code_2"}`,
		`{"v":1,"error":"x","code":"Bad"}`, `{"v":1,"body":{},"code":"internal"}`, `{"v":1,"error":"x","code":""}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b, MaxStreamMessageSize)
		if err != nil {
			return
		}
		if fr.Error == "" && len(fr.Body) == 0 {
			t.Fatalf("accepted an empty frame %q", b)
		}
		if fr.Code != "" && (fr.Error == "" || !validCode(fr.Code)) {
			t.Fatalf("accepted code %q in %q", fr.Code, b)
		}
		again, err := json.Marshal(fr)
		if err != nil {
			t.Fatal(err)
		}
		fr2, err := decodeFrame(again, MaxStreamMessageSize+len(again))
		if err != nil || fr2.Error != fr.Error || fr2.Code != fr.Code {
			t.Fatalf("%q re-encoded as %q: %+v, %v", b, again, fr2, err)
		}
		re := &RemoteError{Code: fr.Code, Message: fr.Error}
		if sentinel, ok := codeErrors[fr.Code]; ok && !errors.Is(re, sentinel) || !errors.Is(re, ErrRemote) {
			t.Fatalf("%#v does not match its sentinels", re)
		}
	})
}

func sameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

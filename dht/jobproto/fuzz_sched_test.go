package jobproto

import (
	"encoding/json"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/libp2p/go-libp2p/core/peer"
)

// decodeBody is what readFrame does with a request or response body.
func decodeBody[T any](b []byte) (*T, error) {
	v := new(T)
	if err := dht.StrictUnmarshal(b, v); err != nil {
		return nil, err
	}
	if val, ok := any(v).(interface{ Validate() error }); ok {
		if err := val.Validate(); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// fuzzBody: a body that decodes and validates survives a round trip unchanged; garbage
// is an error, never a panic.
func fuzzBody[T any](f *testing.F, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeBody[T](b)
		if err != nil {
			return
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		v2, err := decodeBody[T](again)
		if err != nil {
			t.Fatalf("valid body %q does not survive a round trip: %v", b, err)
		}
		if !sameJSON(t, v, v2) {
			t.Fatalf("round trip changed %q", b)
		}
	})
}

const fuzzJobID = "j-0b6a7e4c-5b1e-4f7a-9c3d-2e8f1a6b4c5d"

func FuzzBid(f *testing.F) {
	fuzzBody[Bid](f, `{"jobId":"`+fuzzJobID+`","freeSlots":2,"queued":0,"hasInputs":true}`, `{"jobId":"x","freeSlots":-1}`)
}

func FuzzAccept(f *testing.F) {
	fuzzBody[Accept](f, `{"jobId":"`+fuzzJobID+`","executionId":"e-0b6a7e4c-1","spec":{"engine":"wasm","wasm":{"module":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku","entryPoint":"_start"}}}`)
}

func FuzzExecutionUpdate(f *testing.F) {
	fuzzBody[ExecutionUpdate](f,
		`{"jobId":"`+fuzzJobID+`","executionId":"e-0b6a7e4c-1","execution":{"id":"e-0b6a7e4c-1","nodeId":"x","state":"running","startedAt":"2026-01-01T00:00:00Z"}}`,
		`{"jobId":"`+fuzzJobID+`","executionId":"e-0b6a7e4c-1","execution":{"id":"e-0b6a7e4c-1","state":"completed","resultCid":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku","receipt":{"jobId":"`+fuzzJobID+`","signature":"AAAA"}}}`,
		`{"jobId":"`+fuzzJobID+`","executionId":"e-0b6a7e4c-5b1e-4f7a-9c3d-2e8f1a6b4c5d-1","execution":{"id":"e-0b6a7e4c-5b1e-4f7a-9c3d-2e8f1a6b4c5d-1","state":"pending","phase":"fetching"},"note":"fetching module"}`)
}

func FuzzCancel(f *testing.F) {
	fuzzBody[Cancel](f, `{"jobId":"`+fuzzJobID+`"}`, `{"jobId":"`+fuzzJobID+`","executionId":"e-zz"}`)
}

func FuzzJobPull(f *testing.F) {
	fuzzBody[JobPull](f, `{"ids":["`+fuzzJobID+`"]}`, `{"since":1,"after":"`+fuzzJobID+`"}`)
}

// FuzzDecodeJob: a job record from a peer is accepted only whole and valid, and only
// from its requester.
func FuzzDecodeJob(f *testing.F) {
	const owner = "12D3KooWQJxFuh8dY41dqEKbG6QSSqcMFoAUAawNz5uV1CgvM69e"
	from, err := peer.Decode(owner)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"id":"` + fuzzJobID + `","state":"pending","requester":"` + owner + `","rev":1,"spec":{"engine":"wasm","wasm":{"module":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku","entryPoint":"_start"}}}`))
	f.Add([]byte(`{"id":"` + fuzzJobID + `","state":"bogus","requester":"` + owner + `"}`))
	f.Add([]byte(`{"id":"../x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := DecodeJob(b, from)
		if err != nil {
			return
		}
		if j.Requester != owner {
			t.Fatalf("accepted a record of requester %q from %s", j.Requester, owner)
		}
		again, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeJob(again, from); err != nil {
			t.Fatalf("valid record does not survive a round trip: %v", err)
		}
	})
}

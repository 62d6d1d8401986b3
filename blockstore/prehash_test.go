package blockstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// TestPrehashSameCIDs imports files of awkward sizes with leaves hashed ahead and on
// the importer's goroutine: the entries must be identical, and every leaf hash but
// none of the others must come from the workers.
func TestPrehashSameCIDs(t *testing.T) {
	const chunk = 1024
	data := make([]byte, 200*chunk+7) // 201 leaves: two levels of 174-link nodes
	for i := range data {
		data[i] = byte(i*7 + i/chunk)
	}
	ctx := context.Background()
	for _, n := range []int{0, 1, chunk - 1, chunk, chunk + 1, 5*chunk + 3, 174 * chunk, len(data)} {
		opts := AddOptions{CIDVersion: 1, ChunkSize: chunk}
		want, _, err := buildFileHashing(ctx, discardDAG{}, bytes.NewReader(data[:n]), opts, 1)
		if err != nil {
			t.Fatal(err)
		}
		got, hits, err := buildFileHashing(ctx, discardDAG{}, bytes.NewReader(data[:n]), opts, 3)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%d bytes: %+v hashed ahead, %+v not", n, got, want)
		}
		leaves := (n + chunk - 1) / chunk
		if n <= min(smallFile, chunk) {
			leaves = 0 // one small leaf: hashed as read, with no chunk-sized buffer
		}
		if hits != leaves {
			t.Errorf("%d bytes: %d hashes from the workers, want %d (one per leaf)", n, hits, leaves)
		}
	}
	// kubo's CIDv0 profile wraps leaves in dag-pb: nothing is hashed ahead.
	want, _, _ := buildFileHashing(ctx, discardDAG{}, bytes.NewReader(data), ProfileV0, 1)
	got, _, _ := buildFileHashing(ctx, discardDAG{}, bytes.NewReader(data), ProfileV0, 3)
	if got != want {
		t.Errorf("CIDv0: %+v, want %+v", got, want)
	}
}

// TestPrehashReadError: a reader failing halfway fails the import with its error,
// and the prehasher's goroutines end.
func TestPrehashReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(bytes.NewReader(make([]byte, 3<<20)), &failing{boom})
	_, _, err := buildFileHashing(context.Background(), discardDAG{}, r, AddOptions{}, 2)
	if !errors.Is(err, boom) {
		t.Fatalf("import = %v, want %v", err, boom)
	}
}

type failing struct{ err error }

func (f *failing) Read([]byte) (int, error) { return 0, f.err }

// discardDAG accepts nodes and keeps none; the balanced importer never reads back.
type discardDAG struct{}

func (discardDAG) Add(context.Context, ipld.Node) error            { return nil }
func (discardDAG) AddMany(context.Context, []ipld.Node) error      { return nil }
func (discardDAG) Remove(context.Context, cid.Cid) error           { return nil }
func (discardDAG) RemoveMany(context.Context, []cid.Cid) error     { return nil }
func (discardDAG) Get(context.Context, cid.Cid) (ipld.Node, error) { return nil, ipld.ErrNotFound{} }
func (discardDAG) GetMany(context.Context, []cid.Cid) <-chan *ipld.NodeOption {
	ch := make(chan *ipld.NodeOption)
	close(ch)
	return ch
}

// TestSmallFileNoChunkBuffer: importing a file smaller than a chunk (a job's stdout, its
// exit code) allocates nothing near a chunk's size. It used to take a chunk-sized buffer
// from the chunker and another from the prehasher per file: fresh memory after each
// collection, whose page faults cost a job's result import milliseconds.
func TestSmallFileNoChunkBuffer(t *testing.T) {
	ctx := context.Background()
	data := []byte("Hello, world!\n")
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	const n = 20
	for range n {
		e, _, err := buildFileHashing(ctx, discardDAG{}, bytes.NewReader(data), AddOptions{CIDVersion: 1}, 4)
		if err != nil {
			t.Fatal(err)
		}
		if e.Size != uint64(len(data)) || e.CID.Prefix().Codec != cid.Raw {
			t.Fatalf("entry %+v, want one raw leaf of %d bytes", e, len(data))
		}
		runtime.GC() // empties the buffer pools, as the time between two jobs does
	}
	runtime.ReadMemStats(&m1)
	if per := (m1.TotalAlloc - m0.TotalAlloc) / n; per > 64<<10 {
		t.Fatalf("importing a %d-byte file allocates %d bytes, want well under a chunk (%d)", len(data), per, defaultChunkSize)
	}
}

// TestSmallFileLeafFormat: the small-file path keeps the leaf format asked for: with
// --raw-leaves=false a CIDv1 file of one chunk is a dag-pb UnixFS node, as kubo makes it.
func TestSmallFileLeafFormat(t *testing.T) {
	no := false
	e, _, err := buildFileHashing(context.Background(), discardDAG{}, bytes.NewReader([]byte("small\n")), AddOptions{CIDVersion: 1, RawLeaves: &no}, 4)
	if err != nil {
		t.Fatal(err)
	}
	if c := e.CID.Prefix().Codec; c != cid.DagProtobuf {
		t.Fatalf("CIDv1 without raw leaves: codec %#x, want dag-pb", c)
	}
}

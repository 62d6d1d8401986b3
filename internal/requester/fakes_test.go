package requester

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/store"
)

// Fakes at the requester's boundary: the node's compute side (Local) and the network
// (Network), each recording what the requester asked of it; a clock the test moves.

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// fakeLocal is the node's own compute side: it bids (unless refusal is set) and
// records what it is given to run and to stop.
type fakeLocal struct {
	mu         sync.Mutex
	refusal    string
	bid        jobproto.Bid
	enqueueErr error
	enqueued   []string // execution IDs
	stopped    []string
}

var _ Local = (*fakeLocal)(nil)

func (l *fakeLocal) Refusal(spec job.Spec) string {
	if !l.Runs(spec.Engine) { // as compute.Refusal says first
		return "this node runs no " + string(spec.Engine) + " jobs"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refusal
}

func (l *fakeLocal) Bid(jobID string, _ job.Spec) jobproto.Bid {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bid
	b.JobID = jobID
	return b
}

func (l *fakeLocal) Runs(e job.Engine) bool { return e == job.EngineWasm }
func (l *fakeLocal) Engines() []job.Engine  { return []job.Engine{job.EngineWasm} }

func (l *fakeLocal) Enqueue(jobID, execID string, _ job.Spec, _ peer.ID) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.enqueueErr != nil {
		return l.enqueueErr
	}
	l.enqueued = append(l.enqueued, execID)
	return nil
}

func (l *fakeLocal) Stop(execID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = append(l.stopped, execID)
}

func (l *fakeLocal) set(f func(l *fakeLocal)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l)
}

func (l *fakeLocal) ran() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.enqueued)
}

func (l *fakeLocal) stops() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.stopped)
}

// fakeNet is the network: the peers in bidders bid on every announcement that does not
// exclude them (delivered to r as a bid stream would), Accept fails for the peers in
// refuse, Pull is answered by pulls (the requester of that peer, if any), and every
// request is recorded.
type fakeNet struct {
	mu        sync.Mutex
	r         *Requester
	connected bool
	bidders   map[peer.ID]jobproto.Bid
	refuse    map[peer.ID]error
	cancelErr error
	pulls     map[peer.ID]*Requester
	announced []*jobproto.JobAnnouncement
	events    []*jobproto.JobEvent
	accepted  []acceptCall
	cancels   []cancelCall
}

type acceptCall struct {
	to peer.ID
	a  *jobproto.Accept
}

type cancelCall struct {
	to peer.ID
	c  *jobproto.Cancel
}

var _ Network = (*fakeNet)(nil)

func newFakeNet() *fakeNet {
	return &fakeNet{connected: true, bidders: map[peer.ID]jobproto.Bid{}, refuse: map[peer.ID]error{}, pulls: map[peer.ID]*Requester{}}
}

func (f *fakeNet) Connected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.connected
}

func (f *fakeNet) Announce(_ context.Context, a *jobproto.JobAnnouncement) error {
	f.mu.Lock()
	f.announced = append(f.announced, a)
	r := f.r
	var bids []Bid
	for p, b := range f.bidders {
		if !slices.Contains(a.Exclude, p) {
			b.JobID = a.JobID
			bids = append(bids, Bid{Node: p, Bid: b})
		}
	}
	f.mu.Unlock()
	for _, b := range bids {
		r.OnBid(b.Node, &b.Bid)
	}
	return nil
}

func (f *fakeNet) Event(_ context.Context, ev *jobproto.JobEvent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, ev)
	return nil
}

// lastEvent is the last job event published, or nil.
func (f *fakeNet) lastEvent() *jobproto.JobEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.events) == 0 {
		return nil
	}
	return f.events[len(f.events)-1]
}

func (f *fakeNet) Accept(_ context.Context, to peer.ID, a *jobproto.Accept) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accepted = append(f.accepted, acceptCall{to, a})
	return f.refuse[to]
}

func (f *fakeNet) Cancel(_ context.Context, to peer.ID, c *jobproto.Cancel) error {
	f.mu.Lock()
	f.cancels = append(f.cancels, cancelCall{to, c})
	o, err := f.pulls[to], f.cancelErr
	f.mu.Unlock()
	if o != nil && c.ExecutionID == "" && err == nil {
		return o.OnCancel(c.JobID)
	}
	return err
}

func (f *fakeNet) Pull(_ context.Context, from peer.ID, p *jobproto.JobPull) (*jobproto.JobRecords, error) {
	f.mu.Lock()
	o := f.pulls[from]
	f.mu.Unlock()
	if o == nil {
		return nil, errors.New("no route to " + from.String())
	}
	return o.OnPull(p), nil
}

func (f *fakeNet) set(fn func(f *fakeNet)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeNet) acceptedTo() []peer.ID {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []peer.ID
	for _, a := range f.accepted {
		out = append(out, a.to)
	}
	return out
}

func (f *fakeNet) cancelled() []cancelCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.cancels)
}

// resultCID is the CID a placeholder of the tests (bafyX, bafyY...) stands for: the raw
// CID of its bytes, so that distinct placeholders are distinct valid CIDs. "" is no CID.
func resultCID(placeholder string) cidtext.CID {
	if placeholder == "" {
		return cidtext.CID{}
	}
	sum := sha256.Sum256([]byte(placeholder))
	return cidtext.V1(cidtext.Raw, sum[:])
}

var placeholder = regexp.MustCompile(`\bbafy[A-Z]\b`)

// withCIDs writes the placeholders in s as the CIDs they stand for.
func withCIDs(s string) string {
	return placeholder.ReplaceAllStringFunc(s, func(p string) string { return resultCID(p).String() })
}

// newPeerID makes a peer ID as real nodes have (an Ed25519 key's).
func newPeerID(t testing.TB) peer.ID {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// testRequester makes a requester on a store in a temporary directory, with local as
// its compute side and net (nil: no network) as its network, on clk.
func testRequester(t testing.TB, clk *fakeClock, local *fakeLocal, net *fakeNet) *Requester {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Self: newPeerID(t), Store: s, Local: local, Now: clk.now, Labels: map[string]string{"region": "eu"}}
	if net != nil {
		cfg.Net = net
		cfg.Grace, cfg.Heartbeat, cfg.BidWindow = 10*time.Second, time.Second, 200*time.Millisecond
	}
	r := New(context.Background(), cfg)
	if net != nil {
		net.set(func(f *fakeNet) { f.r = r })
	}
	t.Cleanup(func() {
		r.Close()
		s.Close()
	})
	return r
}

// requesterNode makes a requester without a network on clk, whose own compute side bids.
func requesterNode(t *testing.T, clk *fakeClock) *Requester {
	return testRequester(t, clk, &fakeLocal{}, nil)
}

// eventually waits up to 10 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

package requester

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Unit tests of the peer table (what the heartbeats tell) and TruncateText.

var unitT0 = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func heartbeatOf(node string, started time.Time) *jobproto.Heartbeat {
	return &jobproto.Heartbeat{Node: peer.ID(node), Started: started}
}

func peerIDs(es []Peer) []peer.ID {
	out := make([]peer.ID, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	slices.Sort(out)
	return out
}

// TestPeerTableSaw: saw reports a node new, or back after a silence longer than stale;
// a node heard from again within stale is not.
func TestPeerTableSaw(t *testing.T) {
	const stale = 3 * time.Second
	tb := newPeerTable()
	steps := []struct {
		node  string
		at    time.Duration // after unitT0
		fresh bool
	}{
		{"A", 0, true},                   // new
		{"A", time.Second, false},        // a second later
		{"A", 4 * time.Second, false},    // exactly stale after the last
		{"B", 4 * time.Second, true},     // another node is new
		{"A", 7*time.Second + 1, true},   // stale and a nanosecond: back
		{"A", 7*time.Second + 2, false},  // and heard again
		{"B", 5 * time.Second, false},    //
		{"A", 6 * time.Second, false},    // this node's clock stepped back: not silent
		{"A", 9*time.Second + 1, true},   // stale and a nanosecond after that one: back
		{"A", 100 * time.Second, true},   // a long silence
		{"B", 100 * time.Second, true},   //
		{"C", -time.Hour, true},          // new, whatever the time
		{"C", -time.Hour + stale, false}, //
	}
	for i, s := range steps {
		if got := tb.saw(heartbeatOf(s.node, time.Time{}), unitT0.Add(s.at), stale); got != s.fresh {
			t.Fatalf("step %d: saw %s at unitT0+%s = %v, want %v", i, s.node, s.at, got, s.fresh)
		}
		if last, ok := tb.lastSeen(peer.ID(s.node)); !ok || !last.Equal(unitT0.Add(s.at)) {
			t.Fatalf("step %d: lastSeen %s = %s, %v", i, s.node, last, ok)
		}
	}
	if _, ok := tb.lastSeen("nobody"); ok {
		t.Fatal("lastSeen of a node never heard from")
	}
}

// TestPeerTableEntry: an entry holds the last heartbeat's fields.
func TestPeerTableEntry(t *testing.T) {
	tb := newPeerTable()
	first := &jobproto.Heartbeat{Node: "A", Addrs: []string{"/ip4/1.2.3.4/tcp/1"}, Engines: []job.Engine{job.EngineWasm},
		Capacity: jobproto.Capacity{Slots: 2, Memory: 100, MemoryFree: 50}, Labels: map[string]string{"zone": "a"}, Started: unitT0}
	tb.saw(first, unitT0, time.Second)
	second := &jobproto.Heartbeat{Node: "A", Addrs: []string{"/ip4/5.6.7.8/tcp/2"}, Engines: []job.Engine{job.EngineWasm, job.EngineDocker},
		Capacity: jobproto.Capacity{Slots: 4, Memory: 200, MemoryFree: 10}, Started: unitT0}
	tb.saw(second, unitT0.Add(time.Second), time.Second)
	all := tb.all()
	if len(all) != 1 {
		t.Fatalf("%d entries, want 1", len(all))
	}
	e := all[0]
	if e.ID != "A" || !slices.Equal(e.Addrs, second.Addrs) || !slices.Equal(e.Engines, second.Engines) ||
		e.Capacity != second.Capacity || e.Labels != nil || !e.LastSeen.Equal(unitT0.Add(time.Second)) ||
		!e.Started.Equal(unitT0) || !e.Restarted.IsZero() {
		t.Fatalf("entry %+v, want the second heartbeat's fields", e)
	}
}

// TestPeerTableRestarts: a node whose heartbeat's start time changes restarted, at the
// moment this node saw the change; one whose start stays the same, or was unknown, did
// not.
func TestPeerTableRestarts(t *testing.T) {
	const stale = 3 * time.Second
	tb := newPeerTable()
	check := func(step, node string, started, restarted time.Time) {
		t.Helper()
		s, r := tb.restarts(peer.ID(node))
		if !s.Equal(started) || !r.Equal(restarted) {
			t.Fatalf("%s: restarts(%s) = %s, %s; want %s, %s", step, node, s, r, started, restarted)
		}
	}
	check("unknown node", "A", time.Time{}, time.Time{})

	p1, p2, p3 := unitT0.Add(-time.Hour), unitT0.Add(-time.Minute), unitT0.Add(-time.Second)
	tb.saw(heartbeatOf("A", p1), unitT0, stale)
	check("first heartbeat", "A", p1, time.Time{})
	tb.saw(heartbeatOf("A", p1), unitT0.Add(time.Second), stale)
	check("same process", "A", p1, time.Time{})
	tb.saw(heartbeatOf("A", p2), unitT0.Add(2*time.Second), stale)
	check("restarted", "A", p2, unitT0.Add(2*time.Second))
	tb.saw(heartbeatOf("A", p2), unitT0.Add(3*time.Second), stale)
	check("the restart is remembered", "A", p2, unitT0.Add(2*time.Second))
	if !tb.saw(heartbeatOf("A", p2), unitT0.Add(time.Minute), stale) {
		t.Fatal("back after a minute, not fresh")
	}
	check("the restart is remembered across a silence", "A", p2, unitT0.Add(2*time.Second))
	tb.saw(heartbeatOf("A", p3), unitT0.Add(2*time.Minute), stale)
	check("restarted again", "A", p3, unitT0.Add(2*time.Minute))
	// The same instant in another location is the same start.
	tb.saw(heartbeatOf("A", p3.In(time.FixedZone("X", 3600))), unitT0.Add(3*time.Minute), stale)
	check("the same start in another zone", "A", p3, unitT0.Add(2*time.Minute))

	// A node of an earlier version sends no start: nothing is known, then or when it
	// first sends one.
	tb.saw(heartbeatOf("B", time.Time{}), unitT0, stale)
	check("no start", "B", time.Time{}, time.Time{})
	tb.saw(heartbeatOf("B", time.Time{}), unitT0.Add(time.Second), stale)
	check("still no start", "B", time.Time{}, time.Time{})
	tb.saw(heartbeatOf("B", p1), unitT0.Add(2*time.Second), stale)
	check("a start after none", "B", p1, time.Time{})
	// A start that goes away (the node came back on an earlier version) is a restart.
	tb.saw(heartbeatOf("B", time.Time{}), unitT0.Add(3*time.Second), stale)
	check("a start that goes away", "B", time.Time{}, unitT0.Add(3*time.Second))

	check("another node's restart is not A's", "C", time.Time{}, time.Time{})
}

// TestPeerTableLive: live holds the nodes seen within grace of now, the bound
// included; all holds every node.
func TestPeerTableLive(t *testing.T) {
	const grace = 10 * time.Second
	tb := newPeerTable()
	if got := tb.live(unitT0, grace); len(got) != 0 {
		t.Fatalf("live of an empty table: %v", got)
	}
	if got := tb.all(); got == nil || len(got) != 0 {
		t.Fatalf("all of an empty table: %#v", got)
	}
	seen := map[string]time.Duration{ // before now
		"fresh":    0,
		"recent":   time.Second,
		"edge":     grace,
		"past":     grace + 1,
		"gone":     time.Hour,
		"upcoming": -time.Second, // a heartbeat stamped ahead of now
	}
	for node, ago := range seen {
		tb.saw(heartbeatOf(node, time.Time{}), unitT0.Add(-ago), time.Second)
	}
	want := []peer.ID{"edge", "fresh", "recent", "upcoming"}
	if got := peerIDs(tb.live(unitT0, grace)); !slices.Equal(got, want) {
		t.Fatalf("live = %v, want %v", got, want)
	}
	if got := peerIDs(tb.live(unitT0, 0)); !slices.Equal(got, []peer.ID{"fresh", "upcoming"}) {
		t.Fatalf("live with no grace = %v", got)
	}
	if got := peerIDs(tb.live(unitT0.Add(2*time.Hour), grace)); len(got) != 0 {
		t.Fatalf("live two hours on = %v", got)
	}
	if got := peerIDs(tb.all()); !slices.Equal(got, []peer.ID{"edge", "fresh", "gone", "past", "recent", "upcoming"}) {
		t.Fatalf("all = %v", got)
	}
	// What live and all return are copies: changing them changes no entry.
	for _, e := range tb.all() {
		e.LastSeen = time.Time{}
		e.Addrs = append(e.Addrs, "/changed")
	}
	l := tb.live(unitT0, grace)
	l[0].LastSeen = time.Time{}
	if got := peerIDs(tb.live(unitT0, grace)); !slices.Equal(got, want) {
		t.Fatalf("live after its copies changed = %v, want %v", got, want)
	}
}

// TestPeerTableConcurrent: heartbeats and readers race on the table without harm
// (under -race).
func TestPeerTableConcurrent(t *testing.T) {
	tb := newPeerTable()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				node := fmt.Sprintf("N%d", (g+i)%5)
				now := unitT0.Add(time.Duration(i) * time.Millisecond)
				tb.saw(heartbeatOf(node, unitT0.Add(time.Duration(i/50)*time.Second)), now, time.Second)
				_ = tb.live(now, time.Second)
				_ = tb.all()
				_, _ = tb.restarts(peer.ID(node))
				_, _ = tb.lastSeen(peer.ID(node))
			}
		})
	}
	wg.Wait()
	if got := len(tb.all()); got != 5 {
		t.Fatalf("%d entries, want 5", got)
	}
}

func TestTruncateTextUnit(t *testing.T) {
	tests := []struct {
		s    string
		max  int
		want string
	}{
		{"", 0, ""},
		{"", 5, ""},
		{"hello", 0, ""},
		{"hello", 3, "hel"},
		{"hello", 5, "hello"},
		{"hello", 6, "hello"},
		{"héllo", 1, "h"},      // é is 2 bytes at 1..2
		{"héllo", 2, "h"},      // cutting inside é drops it
		{"héllo", 3, "hé"},     //
		{"日本", 1, ""},          // 3-byte runes
		{"日本", 2, ""},          //
		{"日本", 3, "日"},         //
		{"日本", 5, "日"},         //
		{"日本", 6, "日本"},        //
		{"a😀b", 1, "a"},        // a 4-byte rune at 1..4
		{"a😀b", 4, "a"},        //
		{"a😀b", 5, "a😀"},       //
		{"\x80\x80abc", 1, ""}, // invalid UTF-8: stray continuation bytes are dropped back to the start
		{"ab\xff\xfe", 3, "ab\xff"},
	}
	for _, tc := range tests {
		if got := TruncateText(tc.s, tc.max); got != tc.want {
			t.Errorf("TruncateText(%q, %d) = %q, want %q", tc.s, tc.max, got, tc.want)
		}
	}
}

// TestTruncateTextProperties: on valid UTF-8, TruncateText returns a valid prefix of at
// most max bytes, shorter than max by less than one rune.
func TestTruncateTextProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune{'a', 'z', 'é', 'ß', '日', '本', '😀', '🚀', '\u0301'}
	for range 2000 {
		var b strings.Builder
		for range r.IntN(40) {
			b.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		s := b.String()
		max := r.IntN(len(s) + 3)
		got := TruncateText(s, max)
		switch {
		case !strings.HasPrefix(s, got):
			t.Fatalf("TruncateText(%q, %d) = %q: not a prefix", s, max, got)
		case !utf8.ValidString(got):
			t.Fatalf("TruncateText(%q, %d) = %q: not valid UTF-8", s, max, got)
		case len(s) <= max && got != s:
			t.Fatalf("TruncateText(%q, %d) = %q: cut a string that fits", s, max, got)
		case len(got) > max:
			t.Fatalf("TruncateText(%q, %d) = %q: longer than max", s, max, got)
		case len(s) > max && max-len(got) >= utf8.UTFMax:
			t.Fatalf("TruncateText(%q, %d) = %q: dropped a whole rune too many", s, max, got)
		}
	}
}

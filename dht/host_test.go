package dht

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
)

func TestIdentityPersistsAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	a := startNodeWith(t, Config{Dir: dir})
	id := a.ID()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	b := startNodeWith(t, Config{Dir: dir})
	if b.ID() != id {
		t.Fatalf("peer ID changed across restart: %s then %s", id, b.ID())
	}
	if other := startNode(t); other.ID() == id {
		t.Fatal("two directories gave the same peer ID")
	}
}

func TestIdentityErrors(t *testing.T) {
	ctx := testCtx(t)
	if _, err := New(ctx, Config{}); !errors.Is(err, ErrConfig) {
		t.Errorf("no Dir: got %v, want ErrConfig", err)
	}
	open := t.TempDir()
	if err := os.WriteFile(filepath.Join(open, KeyFile), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(ctx, Config{Dir: open}); !errors.Is(err, ErrIdentity) || !strings.Contains(err.Error(), "chmod") {
		t.Errorf("world-readable key: got %v, want ErrIdentity asking for chmod", err)
	}
	junk := t.TempDir()
	if err := os.WriteFile(filepath.Join(junk, KeyFile), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(ctx, Config{Dir: junk}); !errors.Is(err, ErrIdentity) {
		t.Errorf("junk key: got %v, want ErrIdentity", err)
	}
	if _, err := New(ctx, Config{Dir: t.TempDir(), ListenAddrs: []string{"not a multiaddr"}}); !errors.Is(err, ErrConfig) {
		t.Errorf("bad listen address: got %v, want ErrConfig", err)
	}
}

func TestAddrsAndParseAddrInfos(t *testing.T) {
	n := startNode(t)
	addrs := n.Addrs()
	if len(addrs) == 0 {
		t.Fatal("no addresses")
	}
	var ss []string
	for _, a := range addrs {
		if !strings.HasSuffix(a.String(), "/p2p/"+n.ID().String()) {
			t.Errorf("%s does not end in /p2p/<id>", a)
		}
		ss = append(ss, a.String())
	}
	ais, err := ParseAddrInfos(ss)
	if err != nil {
		t.Fatal(err)
	}
	if len(ais) != 1 || ais[0].ID != n.ID() || len(ais[0].Addrs) != len(addrs) {
		t.Fatalf("ParseAddrInfos(%v) = %v", ss, ais)
	}
	if _, err := ParseAddrInfos([]string{"/ip4/127.0.0.1/tcp/1"}); !errors.Is(err, ErrConfig) {
		t.Errorf("address without /p2p/: got %v, want ErrConfig", err)
	}
	if _, err := ParseAddrInfos([]string{"nonsense"}); !errors.Is(err, ErrConfig) {
		t.Errorf("nonsense: got %v, want ErrConfig", err)
	}
}

// TestTransports dials the same node once over QUIC and once over TCP, and checks that
// the DHT speaks our private protocol only.
func TestTransports(t *testing.T) {
	n := startNodeWith(t, Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}})
	for _, tc := range []struct {
		proto    string
		code     int
		security protocol.ID // QUIC brings its own TLS 1.3, so libp2p negotiates none
	}{{"quic", ma.P_QUIC_V1, ""}, {"tcp", ma.P_TCP, "/noise"}} {
		t.Run(tc.proto, func(t *testing.T) {
			c := startNodeWith(t, Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}})
			var only []ma.Multiaddr
			for _, a := range n.Host().Addrs() {
				if _, err := a.ValueForProtocol(tc.code); err == nil {
					only = append(only, a)
				}
			}
			if len(only) == 0 {
				t.Fatalf("node listens on no %s address: %v", tc.proto, n.Host().Addrs())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.Host().Connect(ctx, peer.AddrInfo{ID: n.ID(), Addrs: only}); err != nil {
				t.Fatal(err)
			}
			conns := c.Host().Network().ConnsToPeer(n.ID())
			if len(conns) == 0 {
				t.Fatal("no connection")
			}
			if _, err := conns[0].RemoteMultiaddr().ValueForProtocol(tc.code); err != nil {
				t.Errorf("connected over %s, want %s", conns[0].RemoteMultiaddr(), tc.proto)
			}
			if got := conns[0].ConnState().Security; got != tc.security {
				t.Errorf("security %q, want %q", got, tc.security)
			}
			if c.Host().Network().Connectedness(n.ID()) != network.Connected {
				t.Error("not connected")
			}
		})
	}
	protos := n.Host().Mux().Protocols()
	if !slices.Contains(protos, protocol.ID("/bacalhau/kad/1.0.0")) {
		t.Errorf("no private DHT protocol among %v", protos)
	}
	if slices.Contains(protos, protocol.ID("/ipfs/kad/1.0.0")) {
		t.Errorf("the node speaks the public IPFS DHT protocol: %v", protos)
	}
}

func TestCloseTwice(t *testing.T) {
	n := startNode(t)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := n.Subscribe(context.Background(), topicNotes); err == nil {
		t.Error("Subscribe on a closed node succeeded")
	}
}

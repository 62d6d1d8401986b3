package interop

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIPFSPeerRedialled: `serve --ipfs-peer` keeps a connection to kubo, and dials it
// again when kubo restarts (kubo itself never dials back a peer it was only told of).
func TestIPFSPeerRedialled(t *testing.T) {
	t.Parallel()
	k := newKubo(t)
	k.start()
	n := startNode(t, "--ipfs-peer", k.addr())
	connected := func() error {
		if !strings.Contains(k.run("swarm", "peers"), n.id) {
			return fmt.Errorf("kubo is not connected to our node %s", n.id)
		}
		return nil
	}
	eventually(t, 20*time.Second, connected)
	k.d.stop()
	k.start()
	eventually(t, 20*time.Second, connected)
}

// TestKuboFindsUsOnTheIPFSDHT: with --ipfs-dht our node speaks the standard DHT
// protocols; a kubo node on the same private network lists it with
// `ipfs routing findprovs` as a provider of a job's result.
func TestKuboFindsUsOnTheIPFSDHT(t *testing.T) {
	t.Parallel()
	k := newKubo(t)
	k.start()
	n := startNode(t, "--ipfs-dht", "--ipfs-peer", k.addr())
	// Wait until kubo's LAN DHT has our node in its routing table.
	eventually(t, 30*time.Second, func() error {
		if out := k.run("stats", "dht", "lan"); !strings.Contains(out, n.id) {
			return fmt.Errorf("our node is not in kubo's LAN DHT table:\n%s", out)
		}
		return nil
	})
	out := n.ok("wasm", "run", example(t, "hello"))
	result := field(out, "Result CID")
	if field(out, "State") != "completed" || result == "" {
		t.Fatalf("job did not complete:\n%s", out)
	}
	eventually(t, 60*time.Second, func() error {
		provs, _ := k.try(nil, "routing", "findprovs", "-n", "5", result)
		if !strings.Contains(provs, n.id) {
			return fmt.Errorf("findprovs %s: %q, want our node %s", result, provs, n.id)
		}
		return nil
	})
}

// TestKuboPubsub: a kubo node subscribed to our job-events topic sees our nodes' events;
// what kubo publishes there that is not a valid job event is dropped by our validators
// and the node goes on running jobs.
func TestKuboPubsub(t *testing.T) {
	t.Parallel()
	k := newKubo(t)
	k.start()
	n := startNode(t, "--ipfs-peer", k.addr(), "--log-level", "debug")
	eventually(t, 20*time.Second, func() error {
		if !strings.Contains(k.run("swarm", "peers"), n.id) {
			return fmt.Errorf("kubo is not connected to our node")
		}
		return nil
	})
	const topic = "/bacalhau/job-events/1"
	sub := k.command("pubsub", "sub", "--enc=json", topic)
	stdout, err := sub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Process.Kill(); _ = sub.Wait() })
	msgs := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m struct{ From string }
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				msgs <- m.From
			}
		}
		close(msgs)
	}()
	// Our node learns kubo's subscription through gossipsub; jobs until an event arrives.
	deadline := time.After(60 * time.Second)
	for got := false; !got; {
		out := n.ok("wasm", "run", example(t, "hello"))
		if field(out, "State") != "completed" {
			t.Fatalf("job did not complete:\n%s", out)
		}
		select {
		case from := <-msgs:
			if from != n.id {
				t.Fatalf("job event from %s, want our node %s", from, n.id)
			}
			got = true
		case <-time.After(2 * time.Second):
		case <-deadline:
			t.Fatal("kubo saw no job event of ours within a minute")
		}
	}

	garbage := filepath.Join(t.TempDir(), "garbage")
	if err := os.WriteFile(garbage, []byte("not a job event {\x00\xff"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		k.run("pubsub", "pub", topic, garbage)
	}
	eventually(t, 20*time.Second, func() error {
		for line := range strings.SplitSeq(n.p.out.String(), "\n") {
			if strings.Contains(line, "pubsub message dropped") && strings.Contains(line, "from="+k.id) {
				return nil
			}
		}
		return fmt.Errorf("our node logged no dropped message from kubo %s", k.id)
	})
	if out := n.ok("wasm", "run", example(t, "hello")); field(out, "State") != "completed" {
		t.Fatalf("a job after kubo's garbage did not complete:\n%s", out)
	}
}

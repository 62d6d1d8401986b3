package nodecmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cli"
)

// devNode is one node of a devstack: a `bacalhau serve` child process.
type devNode struct {
	repo      string
	id        peer.ID
	apiPort   int
	swarmPort int
	cmd       *exec.Cmd
	done      chan struct{}
}

func newDevstack(e *cli.Env) *cobra.Command {
	var (
		nodes     int
		dir       string
		keep      bool
		logLevel  string
		extraArgs []string
	)
	cmd := &cobra.Command{
		Use:   "devstack",
		Short: "Run a network of real nodes on loopback, one process each; Ctrl-C stops them all",
		Example: `  bacalhau devstack --nodes 3
  bacalhau devstack --nodes 3 --serve-arg=--grace=3s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if nodes < 1 || nodes > 64 {
				return fmt.Errorf("--nodes %d: want 1 to 64", nodes)
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			if dir == "" {
				if dir, err = os.MkdirTemp("", "bacalhau-devstack-"); err != nil {
					return err
				}
				if !keep {
					defer os.RemoveAll(dir)
				}
			}
			stack := make([]*devNode, nodes)
			defer stopAll(stack)
			ctx := cmd.Context()
			for i := range stack {
				d, err := startDevNode(self, filepath.Join(dir, fmt.Sprintf("node-%d", i)), i, stack[0], logLevel, extraArgs, e)
				if err != nil {
					return fmt.Errorf("node %d: %w", i, err)
				}
				stack[i] = d
				if i == 0 { // the others join through it: it must listen first
					if err := d.waitReady(ctx); err != nil {
						return fmt.Errorf("node 0: %w", err)
					}
				}
			}
			for i, d := range stack {
				if err := d.waitReady(ctx); err != nil {
					return fmt.Errorf("node %d: %w", i, err)
				}
			}
			fmt.Fprintf(e.Stdout, "Devstack of %d nodes ready (repos under %s)\n", nodes, dir)
			for i, d := range stack {
				fmt.Fprintf(e.Stdout, "  node %d  %s  API 127.0.0.1:%d  /ip4/127.0.0.1/tcp/%d/p2p/%s\n", i, d.id, d.apiPort, d.swarmPort, d.id)
			}
			fmt.Fprintf(e.Stdout, "To use node 0 from another shell:\n  export BACALHAU_API_HOST=127.0.0.1 BACALHAU_API_PORT=%d\n", stack[0].apiPort)
			fmt.Fprintln(e.Stdout, "Press Ctrl-C to stop every node.")
			select {
			case <-ctx.Done():
			case <-anyDone(stack):
				fmt.Fprintln(e.Stderr, "a node exited; stopping the others")
			}
			fmt.Fprintln(e.Stdout, "Stopping")
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&nodes, "nodes", 3, "how many nodes")
	fl.StringVar(&dir, "dir", "", "where the repos go (default: a temporary directory, removed at the end)")
	fl.BoolVar(&keep, "keep", false, "keep the temporary repos")
	fl.StringVar(&logLevel, "log-level", "warn", "log level of the nodes")
	fl.StringArrayVar(&extraArgs, "serve-arg", nil, "extra argument for every node's serve (repeatable)")
	return cmd
}

// startDevNode starts node i; nodes after the first join through first. The identity is
// made before the process starts, so its peer ID is known at once.
func startDevNode(self, repo string, i int, first *devNode, logLevel string, extra []string, e *cli.Env) (*devNode, error) {
	if err := os.MkdirAll(repo, 0o700); err != nil {
		return nil, err
	}
	key, err := dht.LoadIdentity(repo)
	if err != nil {
		return nil, err
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	d := &devNode{repo: repo, id: id, done: make(chan struct{})}
	if d.apiPort, err = freeTCPPort(); err != nil {
		return nil, err
	}
	if d.swarmPort, err = freeTCPPort(); err != nil {
		return nil, err
	}
	args := []string{"serve", "--repo", repo, "--api-host", "127.0.0.1", "--api-port", strconv.Itoa(d.apiPort),
		"--swarm-host", "127.0.0.1", "--swarm-port", strconv.Itoa(d.swarmPort), "--log-level", logLevel,
		"--labels", "devstack=" + strconv.Itoa(i)}
	if first != nil {
		args = append(args, "--peer", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", first.swarmPort, first.id))
	}
	args = append(args, extra...)
	d.cmd = exec.Command(self, args...)
	d.cmd.Stdout, d.cmd.Stderr = nil, e.Stderr
	d.cmd.SysProcAttr = childAttr()
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	return d, nil
}

func (d *devNode) waitReady(ctx context.Context) error {
	c := api.NewClient("http://127.0.0.1:" + strconv.Itoa(d.apiPort))
	deadline := time.Now().Add(30 * time.Second)
	for {
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		err := c.Health(hctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-d.done:
			return errors.New("exited before it was ready")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after 30 s: %v", err)
		}
	}
}

// stopAll asks every node to stop (SIGTERM), then kills those still running after 10 s.
func stopAll(stack []*devNode) {
	for _, d := range stack {
		if d != nil {
			_ = d.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(10 * time.Second)
	for _, d := range stack {
		if d == nil {
			continue
		}
		select {
		case <-d.done:
		case <-deadline:
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	}
}

func anyDone(stack []*devNode) <-chan struct{} {
	ch := make(chan struct{}, 1)
	for _, d := range stack {
		go func() {
			<-d.done
			select {
			case ch <- struct{}{}:
			default:
			}
		}()
	}
	return ch
}

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

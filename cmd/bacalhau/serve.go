package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/node"
)

func newServe(e *env) *cobra.Command {
	var (
		repo        string
		concurrency int
		logLevel    string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a node: storage, API and compute in one process",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if repo == "" {
				var err error
				if repo, err = defaultRepo(); err != nil {
					return err
				}
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
			}
			logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
			start := time.Now()
			l, err := net.Listen("tcp", e.addr())
			if err != nil {
				return fmt.Errorf("cannot listen on %s: %w", e.addr(), err)
			}
			n, err := node.Open(ctx, node.Config{Repo: repo, Concurrency: concurrency, Logger: logger})
			if err != nil {
				l.Close()
				return err
			}
			defer n.Close()
			srv := api.New(api.Config{}, n, n.Blocks(), func() any { return n.Info() })
			info := n.Info()
			fmt.Fprintf(e.stdout, "Node %s ready in %s: API on http://%s (repo %s, %d workers)\n",
				info.ID, time.Since(start).Round(time.Millisecond), l.Addr(), repo, info.Concurrency)
			fmt.Fprintf(e.stdout, "To use it from another shell:\n  export BACALHAU_API_HOST=%s BACALHAU_API_PORT=%d\n",
				l.Addr().(*net.TCPAddr).IP, l.Addr().(*net.TCPAddr).Port)
			err = srv.Serve(ctx, l)
			if ctx.Err() != nil {
				fmt.Fprintln(e.stdout, "Shutting down")
				return nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&repo, "repo", "", "node repository (default $BACALHAU_DIR or ~/.bacalhau)")
	cmd.Flags().IntVar(&concurrency, "concurrency", 0, "jobs run at once (default: number of CPUs)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func defaultRepo() (string, error) {
	if d := os.Getenv("BACALHAU_DIR"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no --repo, no BACALHAU_DIR and no home directory: %w", err)
	}
	return filepath.Join(home, ".bacalhau"), nil
}

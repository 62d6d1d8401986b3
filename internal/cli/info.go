package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/version"
)

func newVersion(e *Env) *cobra.Command {
	var (
		output     string
		clientOnly bool
	)
	cmd := &cobra.Command{
		Use:   "version",
		Short: shortVersion,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			v := map[string]string{"client": version.Version}
			if !clientOnly {
				if info, err := e.Client().Node(cmd.Context()); err == nil {
					v["server"] = info.Version
				}
			}
			if output == outJSON || output == outYAML {
				return PrintData(e.Stdout, output, v)
			}
			fmt.Fprintf(e.Stdout, "Client: %s\n", v["client"])
			if clientOnly {
				return nil
			}
			if s, ok := v["server"]; ok {
				fmt.Fprintf(e.Stdout, "Server: %s\n", s)
			} else {
				fmt.Fprintf(e.Stdout, "Server: not reachable at %s\n", e.Addr())
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print only the client's version (do not ask the node)")
	addOutputFlag(cmd, &output, outTable)
	return cmd
}

func newID(e *Env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "id",
		Short: shortID,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			info, err := e.Client().Node(cmd.Context())
			if err != nil {
				return err
			}
			if output != outTable {
				return PrintData(e.Stdout, output, info)
			}
			fmt.Fprintf(e.Stdout, "ID:       %s\nVersion:  %s\nEngines:  %s\nWorkers:  %d (%d running, %d queued)\nPeers:    %d\n",
				info.ID, info.Version, job.JoinEngines(info.Engines, ","), info.Concurrency, info.Running, info.Queued, info.Peers)
			if len(info.Labels) > 0 {
				fmt.Fprintf(e.Stdout, "Labels:   %s\n", job.FormatLabels(info.Labels))
			}
			fmt.Fprintln(e.Stdout, "Addresses:")
			for _, a := range info.Addrs {
				fmt.Fprintf(e.Stdout, "  %s\n", a)
			}
			return nil
		},
	}
	addOutputFlag(cmd, &output, outTable)
	return cmd
}

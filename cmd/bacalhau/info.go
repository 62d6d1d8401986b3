package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/node"
)

func newVersion(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client's and the node's versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := map[string]string{"client": node.Version}
			var info struct {
				Version string `json:"version"`
			}
			if err := e.client().Node(cmd.Context(), &info); err == nil {
				v["server"] = info.Version
			}
			if output == outJSON || output == outYAML {
				return printData(e.stdout, output, v)
			}
			fmt.Fprintf(e.stdout, "Client: %s\n", v["client"])
			if s, ok := v["server"]; ok {
				fmt.Fprintf(e.stdout, "Server: %s\n", s)
			} else {
				fmt.Fprintf(e.stdout, "Server: not reachable at %s\n", e.addr())
			}
			return nil
		},
	}
	addOutputFlag(cmd, &output, outTable)
	return cmd
}

func newID(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "id",
		Short: "Print the node's peer ID, listen addresses and status",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			var info node.Info
			if err := e.client().Node(cmd.Context(), &info); err != nil {
				return err
			}
			if output != outTable {
				return printData(e.stdout, output, info)
			}
			fmt.Fprintf(e.stdout, "ID:       %s\nVersion:  %s\nEngines:  %s\nWorkers:  %d (%d running, %d queued)\nPeers:    %d\n",
				info.ID, info.Version, strings.Join(info.Engines, ","), info.Concurrency, info.Running, info.Queued, info.Peers)
			if len(info.Labels) > 0 {
				fmt.Fprintf(e.stdout, "Labels:   %s\n", job.FormatLabels(info.Labels))
			}
			fmt.Fprintln(e.stdout, "Addresses:")
			for _, a := range info.Addrs {
				fmt.Fprintf(e.stdout, "  %s\n", a)
			}
			return nil
		},
	}
	addOutputFlag(cmd, &output, outTable)
	return cmd
}

package main

import (
	"fmt"

	"github.com/spf13/cobra"

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
		Short: "Print the node's identity and status",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var info map[string]any
			if err := e.client().Node(cmd.Context(), &info); err != nil {
				return err
			}
			if output == outTable {
				output = outYAML
			}
			return printData(e.stdout, output, info)
		},
	}
	addOutputFlag(cmd, &output, outJSON)
	return cmd
}

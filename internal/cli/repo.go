package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

func newRepo(e *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "repo", Short: shortRepo}
	cmd.AddCommand(newRepoStat(e), newRepoGC(e))
	return cmd
}

func newRepoStat(e *Env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "stat",
		Short: "Show how much the node's blockstore holds, and its limit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			st, err := e.Client().RepoStat(cmd.Context())
			if err != nil {
				return err
			}
			if output != outTable {
				return PrintData(e.Stdout, output, st)
			}
			limit := "none"
			if st.MaxSize > 0 {
				limit = size(st.MaxSize)
			}
			fmt.Fprintf(e.Stdout, "Size on disk:  %s (limit %s)\nBlocks:        %d (%d in pack files)\nPack files:    %s, of which %s unused (a GC reclaims it)\nIndex:         %s\nPins:          %d\n",
				size(st.DiskBytes), limit, st.Blocks, st.PackedBlocks, size(st.PackBytes), size(st.PackDeadBytes), size(st.PebbleBytes), st.Pins)
			return nil
		},
	}
	addOutputFlag(cmd, &output, outTable)
	return cmd
}

func newRepoGC(e *Env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Delete what no pin and no running job holds (fetched data, expired results) and compact the pack files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			r, err := e.Client().GC(cmd.Context())
			if err != nil {
				return err
			}
			if output != outTable {
				return PrintData(e.Stdout, output, r)
			}
			fmt.Fprintf(e.Stdout, "Freed %d blocks (%s) and %s of pack files (%d compacted); %d expired results unpinned\nSize on disk: %s -> %s, in %s\n",
				r.BlocksFreed, size(r.BytesFreed), size(r.PackBytesFreed), r.PacksCompacted, r.PinsExpired, size(r.DiskBefore), size(r.DiskAfter), r.Duration)
			if r.Deferred {
				fmt.Fprintln(e.Stdout, "The sweep was put off: imports under way had written too many blocks; run it again once they end.")
			}
			return nil
		},
	}
	addOutputFlag(cmd, &output, outTable)
	return cmd
}

func size(n int64) string { return job.FormatBytes(uint64(max(n, 0))) }

package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

func newNode(e *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: shortNode}
	cmd.AddCommand(newNodeList(e))
	return cmd
}

func newNodeList(e *Env) *cobra.Command {
	var (
		output     string
		wide, hide bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List every node the node knows of: peer ID, addresses, engines, capacity, labels, last seen",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			nodes, err := e.Client().Nodes(cmd.Context())
			if err != nil {
				return err
			}
			if output != outTable {
				return PrintData(e.Stdout, output, nodes)
			}
			header := []string{"ID", "STATUS", "ENGINES", "SLOTS", "MEMORY", "LABELS", "LAST SEEN", "ADDRESSES"}
			rows := make([][]string, 0, len(nodes))
			for _, p := range nodes {
				id, status := p.ID, "live"
				if !wide && len(id) > 12 {
					id = id[:4] + "…" + id[len(id)-6:]
				}
				if p.Self {
					status = "self"
				} else if !p.Live {
					status = "silent"
				}
				addrs := p.Addrs
				if !wide && len(addrs) > 1 {
					addrs = []string{addrs[0], fmt.Sprintf("(+%d)", len(addrs)-1)}
				}
				rows = append(rows, []string{id, status, job.JoinEngines(p.Engines, ","), fmt.Sprint(p.Capacity.Slots),
					fmt.Sprintf("%s free of %s", job.FormatBytes(p.Capacity.MemoryFree), job.FormatBytes(p.Capacity.Memory)), job.FormatLabels(p.Labels),
					time.Since(p.LastSeen).Round(100*time.Millisecond).String() + " ago", strings.Join(addrs, " ")})
			}
			return table(e.Stdout, header, rows, hide)
		},
	}
	cmd.Flags().BoolVar(&wide, "wide", false, "full peer IDs and every address")
	cmd.Flags().BoolVar(&hide, "hide-header", false, "no header line")
	addOutputFlag(cmd, &output, outTable)
	return cmd
}

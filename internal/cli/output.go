package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/internal/jobspec"
)

// Output formats of --output.
const (
	outTable = "table"
	outJSON  = "json"
	outYAML  = "yaml"
)

func addOutputFlag(cmd *cobra.Command, p *string, def string) {
	cmd.Flags().StringVar(p, "output", def, "output format: table, json or yaml")
}

func checkOutput(f string) error {
	switch f {
	case outTable, outJSON, outYAML:
		return nil
	}
	return fmt.Errorf("--output %q: want table, json or yaml", f)
}

// PrintData prints v as JSON or YAML (both keep the JSON field names and order).
func PrintData(w io.Writer, format string, v any) error {
	if format == outYAML {
		b, err := jobspec.EncodeYAML(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// table prints rows under a header with aligned columns.
func table(w io.Writer, header []string, rows [][]string, hideHeader bool) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	if !hideHeader {
		fmt.Fprintln(tw, strings.Join(header, "\t"))
	}
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

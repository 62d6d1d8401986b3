package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
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

// printData prints v as JSON or YAML (both keep the JSON field names).
func PrintData(w io.Writer, format string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if format == outYAML {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
		_, err = w.Write(b)
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

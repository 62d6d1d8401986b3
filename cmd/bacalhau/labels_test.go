package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// TestJobLabels: labels given with -l/--labels and --label are stored with the job,
// shown by describe, selected on by list --labels (ours and the v1 group's) and by
// upstream's labels parameter; describe --output yaml (v1) and the job record (ours)
// of a labelled job are specs job run takes back, with the same labels and result CID.
// A label no selector could name fails before anything is submitted.
func TestJobLabels(t *testing.T) {
	n := startNode(t)
	prod := n.ok("wasm", "run", "-l", "env=prod,team=data", "--label", "tier=1", guestPath["hello"])
	prodID, want := field(prod, "Job ID"), field(prod, "Result CID")
	devID := strings.TrimSpace(n.ok("wasm", "run", "--labels", "env=dev", "--id-only", guestPath["hello"]))
	plainID := strings.TrimSpace(n.ok("wasm", "run", "--id-only", guestPath["hello"]))

	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"list", "--labels", "env=prod"}, []string{prodID}},
		{[]string{"job", "list", "--labels", "env in (prod,dev)"}, []string{prodID, devID}},
		{[]string{"list", "--labels", "!env"}, []string{plainID}},
		{[]string{"list", "--labels", "env!=prod"}, []string{devID, plainID}},
		{[]string{"job", "list", "--labels", "team,tier>0"}, []string{prodID}},
		{[]string{"list", "--labels", "env=test"}, nil},
	} {
		got := n.ok(append(c.args, "--wide", "--hide-header")...)
		for _, id := range []string{prodID, devID, plainID} {
			if listed, wanted := strings.Contains(got, id), slices.Contains(c.want, id); listed != wanted {
				t.Errorf("%v: %s listed %v, want %v:\n%s", c.args, id, listed, wanted, got)
			}
		}
	}
	if got := n.ok("describe", prodID, "--output", "table"); !strings.Contains(got, "Labels:      env=prod,team=data,tier=1\n") {
		t.Errorf("describe does not show the labels:\n%s", got)
	}
	if got := n.ok("job", "describe", prodID); !strings.Contains(got, "Labels:      env=prod,team=data,tier=1\n") {
		t.Errorf("job describe does not show the labels:\n%s", got)
	}

	// upstream's route, with upstream CLI's own default selector
	code, body := n.v1Call("GET", "/api/v1/orchestrator/jobs?limit=10&labels=bacalhau_canary%21%3Dtrue&labels=team", "")
	var page struct {
		Items []struct {
			ID     string
			Labels map[string]string
		}
	}
	if err := json.Unmarshal(body, &page); code != 200 || err != nil || len(page.Items) != 1 || page.Items[0].ID != prodID ||
		job.FormatLabels(page.Items[0].Labels) != "env=prod,team=data,tier=1" {
		t.Errorf("upstream list with labels: %d %s", code, body)
	}

	dir := t.TempDir()
	for _, describe := range [][]string{{"job", "describe", prodID, "--output", "yaml"}, {"describe", prodID, "--output", "yaml"}} {
		spec := filepath.Join(dir, "described.yaml")
		if err := os.WriteFile(spec, []byte(n.ok(describe...)), 0o644); err != nil {
			t.Fatal(err)
		}
		out := n.ok("job", "run", spec)
		if got := field(out, "Result CID"); got != want {
			t.Errorf("%v then job run: result %s, want %s", describe, got, want)
		}
		j, err := n.client().Get(t.Context(), field(out, "Job ID"))
		if err != nil || job.FormatLabels(j.Spec.Labels) != "env=prod,team=data,tier=1" {
			t.Errorf("%v then job run: labels %v, %v", describe, j.Spec.Labels, err)
		}
	}

	for _, c := range []struct{ args []string }{
		{[]string{"wasm", "run", "-l", "env=a b", guestPath["hello"]}},
		{[]string{"wasm", "run", "-l", "e v=1", guestPath["hello"]}},
		{[]string{"docker", "run", "--label", "env=(x)", "ubuntu", "echo"}},
		{[]string{"list", "--labels", "env in prod"}},
	} {
		if out, errs, code := n.cli(c.args...); code == 0 || !strings.Contains(errs, "--labels") {
			t.Errorf("bacalhau %s: exit %d\n%s\n%s\nwant a --labels error", strings.Join(c.args, " "), code, out, errs)
		}
	}
	if got := strings.Count(n.ok("list", "-n", "100", "--hide-header"), "\n"); got != 5 {
		t.Errorf("%d jobs listed, want the 5 submitted (refused labels submit none)", got)
	}
}

package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestUpstreamFlagsSayWhatToUse: upstream's flags this CLI lacks are refused with what
// to use instead, never "unknown flag", and an input of a storage it lacks is never
// called a bad CID. Everything here fails before a node is asked (none listens).
func TestUpstreamFlagsSayWhatToUse(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"wasm", "run", "--target", "all", "m.wasm"}, "--target is a flag of upstream Bacalhau that this bacalhau does not have: a job runs on one node"},
		{[]string{"wasm", "run", "--concurrency", "3", "m.wasm"}, "--verify N"},
		{[]string{"docker", "run", "--node-details", "ubuntu"}, "bacalhau describe"},
		{[]string{"docker", "run", "-f", "ubuntu"}, "bacalhau logs -f"},
		{[]string{"wasm", "run", "--template-vars", "a=b", "m.wasm"}, "not templates"},
		{[]string{"docker", "run", "--wait-timeout-secs", "10", "ubuntu"}, "--wait-timeout"},
		{[]string{"wasm", "run", "-U", "https://x/m.wasm", "m.wasm"}, "link the module"},
		{[]string{"job", "run", "--follow", "spec.yaml"}, "bacalhau logs -f"},
		{[]string{"job", "run", "-V", "a=b", "spec.yaml"}, "not templates"},
		{[]string{"job", "run", "--no-template", "spec.yaml"}, "never templated"},
		{[]string{"job", "list", "--limit", "5"}, "-n/--number"},
		{[]string{"job", "list", "--order-by", "id"}, "--sort-by"},
		{[]string{"job", "list", "--next-token", "x"}, "--offset"},
		{[]string{"describe", "--include-events", "j-1"}, "history"},
		{[]string{"job", "describe", "--pretty", "j-1"}, "indented"},
		{[]string{"get", "--ipfs-connect", "/ip4/1.2.3.4/tcp/4001", "j-1"}, "--ipfs-peer"},
		{[]string{"job", "get", "--download-timeout-secs", "10", "j-1"}, "--fetch-timeout"},
		{[]string{"wasm", "run", "--publisher", "s3", "m.wasm"}, "always stored in IPFS"},
		{[]string{"wasm", "run", "-i", "s3://bucket/key", "m.wasm"}, "s3 inputs are not supported here"},
		{[]string{"docker", "run", "-i", "source=s3://bucket/key,target=/data", "ubuntu"}, "s3 inputs are not supported here"},
		{[]string{"wasm", "run", "-i", "file:///tmp/x", "m.wasm"}, "file inputs are not supported here"},
	} {
		var out, errb bytes.Buffer
		args := append([]string{"--api-port", "1"}, c.args...)
		code := Run(context.Background(), args, strings.NewReader(""), &out, &errb, nil)
		if code == 0 || !strings.Contains(errb.String(), c.want) || strings.Contains(errb.String(), "unknown flag") ||
			strings.Contains(errb.String(), "not a valid CID") {
			t.Errorf("bacalhau %s: exit %d, stderr %q; want an error with %q", strings.Join(c.args, " "), code, errb.String(), c.want)
		}
	}
	// hidden: help lists none of them
	var out, errb bytes.Buffer
	Run(context.Background(), []string{"wasm", "run", "--help"}, strings.NewReader(""), &out, &errb, nil)
	if strings.Contains(out.String(), "--concurrency") || !strings.Contains(out.String(), "--selector") {
		t.Errorf("wasm run --help:\n%s", out.String())
	}
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestConfig: `config set API.Port` writes the config file under the repository and
// client commands then find the node through it; the environment overrides the file,
// a flag overrides both; `config list` says where each value comes from.
func TestConfig(t *testing.T) {
	n := startNode(t)
	dir := t.TempDir()
	t.Setenv("BACALHAU_DIR", dir)
	t.Setenv("BACALHAU_API_PORT", "")
	t.Setenv("BACALHAU_API_HOST", "")
	bare := func(args ...string) (string, string, int) { // no --api-port
		var out, errb bytes.Buffer
		code := run(context.Background(), args, strings.NewReader(""), &out, &errb)
		return out.String(), errb.String(), code
	}
	port := strconv.Itoa(n.port)
	if out, errs, code := bare("config", "set", "API.Port", port); code != 0 {
		t.Fatalf("config set: %d %s %s", code, out, errs)
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil || !strings.Contains(string(b), "API:\n  Port: "+port) {
		t.Fatalf("config file: %q, %v", b, err)
	}
	if out, errs, code := bare("get-version-from-node-is", "x"); code == 0 {
		t.Fatalf("an unknown command passed: %s %s", out, errs)
	}
	if out, errs, code := bare("node", "list"); code != 0 {
		t.Fatalf("node list through the config's port: exit %d %s %s", code, out, errs)
	}
	if out, _, _ := bare("config", "get", "api.port"); strings.TrimSpace(out) != port {
		t.Errorf("config get api.port: %q", out)
	}
	if out, _, _ := bare("config", "list"); !strings.Contains(out, "config "+filepath.Join(dir, "config.yaml")) || !strings.Contains(out, port) {
		t.Errorf("config list:\n%s", out)
	}
	// The environment overrides the file; a flag overrides the environment.
	t.Setenv("BACALHAU_API_PORT", "1")
	if _, _, code := bare("node", "list"); code == 0 {
		t.Error("BACALHAU_API_PORT=1 did not override the config file")
	}
	if out, _, _ := bare("config", "get", "API.Port"); strings.TrimSpace(out) != "1" {
		t.Errorf("config get with the env set: %q", out)
	}
	if out, errs, code := bare("--api-port", port, "node", "list"); code != 0 {
		t.Errorf("--api-port did not override the environment: %d %s %s", code, out, errs)
	}
	for _, bad := range [][]string{{"config", "set", "API.Port", "http"}, {"config", "set", "Nope.Key", "1"}, {"config", "get", "x"}, {"config", "frob"}} {
		if _, errs, code := bare(bad...); code == 0 || errs == "" {
			t.Errorf("%v: exit %d, %q", bad, code, errs)
		}
	}
	// A broken file is reported, with the key, by the commands it affects.
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("API: {Prot: 1}\n"), 0o600)
	if _, errs, code := bare("node", "list"); code == 0 || !strings.Contains(errs, `unknown config key "API.Prot"`) {
		t.Errorf("a broken config file: exit %d, %s", code, errs)
	}
}

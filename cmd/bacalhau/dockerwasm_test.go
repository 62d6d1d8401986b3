package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// wasmImage writes a docker save archive (the OCI layout and the manifest.json older
// engines read) of an image FROM scratch holding module at /faulty.wasm, with the
// platform os/arch, the entrypoint /faulty.wasm, cmd and env, loads it into the engine
// as tag and removes it when the test ends. It returns the output of docker load.
func wasmImage(t *testing.T, tag, os_, arch, module string, cmd, env []string) (string, error) {
	t.Helper()
	mod, err := os.ReadFile(module)
	if err != nil {
		t.Fatal(err)
	}
	tarOf := func(files ...[2][]byte) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, f := range files {
			must(t, tw.WriteHeader(&tar.Header{Name: string(f[0]), Mode: 0o755, Size: int64(len(f[1])), Typeflag: tar.TypeReg}))
			_, err := tw.Write(f[1])
			must(t, err)
		}
		must(t, tw.Close())
		return b.Bytes()
	}
	digest := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	layer := tarOf([2][]byte{[]byte("faulty.wasm"), mod})
	config, _ := json.Marshal(map[string]any{
		"os": os_, "architecture": arch,
		"config": map[string]any{"Entrypoint": []string{"/faulty.wasm"}, "Cmd": cmd, "Env": env,
			"Labels": map[string]string{"org.bacalhau-wasm.test": "1"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + digest(layer)}},
	})
	manifest, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + digest(config), "size": len(config)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + digest(layer), "size": len(layer)}}})
	index, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []any{map[string]any{
		"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + digest(manifest), "size": len(manifest),
		"annotations": map[string]string{"io.containerd.image.name": "docker.io/" + tag, "org.opencontainers.image.ref.name": "latest"}}}})
	legacy, _ := json.Marshal([]any{map[string]any{"Config": "blobs/sha256/" + digest(config), "RepoTags": []string{tag},
		"Layers": []string{"blobs/sha256/" + digest(layer)}}})
	archive := tarOf(
		[2][]byte{[]byte("oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		[2][]byte{[]byte("blobs/sha256/" + digest(layer)), layer},
		[2][]byte{[]byte("blobs/sha256/" + digest(config)), config},
		[2][]byte{[]byte("blobs/sha256/" + digest(manifest)), manifest},
		[2][]byte{[]byte("index.json"), index},
		[2][]byte{[]byte("manifest.json"), legacy},
	)
	load := exec.Command("docker", "load")
	load.Stdin = bytes.NewReader(archive)
	out, err := load.CombinedOutput()
	if err == nil {
		t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	}
	return string(out), err
}

// TestDockerWasmImage: a job whose image holds a WASI module (its entrypoint a .wasm
// file, or its platform wasi/wasm) runs in the WASM sandbox, not a container, and
// gives the result CID that `wasm run` of the same module with the same inputs,
// arguments and environment gives. The image's own command and environment are used
// as docker run would.
func TestDockerWasmImage(t *testing.T) {
	dockerReady(t)
	n := startNode(t)
	module := guestPath["faulty"]
	modCID := strings.TrimSpace(n.ok("data", "add", module))
	src := filepath.Join(t.TempDir(), "in")
	must(t, os.MkdirAll(filepath.Join(src, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "sub", "a.txt"), []byte("some data\n"), 0o644))
	in := strings.TrimSpace(n.ok("data", "add", src))
	suffix := strconv.Itoa(os.Getpid())

	// This engine may refuse a wasi/wasm image (before Docker+Wasm, `docker load`
	// knows no os "wasi"); the .wasm entrypoint is the case every engine loads.
	tags := []string{}
	for _, p := range [][2]string{{"linux", "amd64"}, {"wasi", "wasm"}} {
		tag := "bacalhau-test/wasm-" + p[0] + ":" + suffix
		out, err := wasmImage(t, tag, p[0], p[1], module, []string{"write", "from", "image"}, []string{"GREETING=image"})
		if err != nil {
			if p[0] == "wasi" && strings.Contains(out, "unknown operating system") {
				t.Logf("this engine holds no wasi/wasm images (%s): that case is TestPlanWasm's", strings.TrimSpace(out))
				continue
			}
			t.Fatalf("docker load of %s: %v\n%s", tag, err, out)
		}
		tags = append(tags, tag)
	}
	for _, tag := range tags {
		for _, tt := range []struct {
			name         string
			docker, wasm []string
		}{
			{"args and env", []string{"-e", "GREETING=hi", tag, "write", "a", "b"}, []string{"-e", "GREETING=hi", "--", "write", "a", "b"}},
			{"inputs", []string{"-i", in, tag, "walk", "/inputs"}, []string{"-i", in, "--", "walk", "/inputs"}},
			{"the image's command and env", []string{tag}, []string{"-e", "GREETING=image", "--", "write", "from", "image"}},
		} {
			t.Run(tag+"/"+tt.name, func(t *testing.T) {
				out, errs, code := n.cli(append([]string{"docker", "run"}, tt.docker...)...)
				want, werrs, wcode := n.cli(append([]string{"wasm", "run", module}, tt.wasm...)...)
				if code != 0 || wcode != 0 || field(out, "State") != "completed" {
					t.Fatalf("docker run: exit %d\n%s\n%s\nwasm run: exit %d\n%s\n%s", code, out, errs, wcode, want, werrs)
				}
				if got, w := field(out, "Result CID"), field(want, "Result CID"); got == "" || got != w {
					t.Fatalf("docker run result %s, wasm run result %s\n%s\n%s", got, w, out, want)
				}
				j := decodeJob(t, n.ok("describe", field(out, "Job ID"), "--output", "json"))
				var notes []string
				for _, e := range j.History {
					notes = append(notes, e.Message)
				}
				all := strings.Join(notes, "\n")
				if j.Spec.Engine != job.EngineDocker || !strings.Contains(all, "runs in the WASM sandbox, not a container") || !strings.Contains(all, "module "+modCID) {
					t.Fatalf("describe does not say where it ran (module %s):\n%s", modCID, all)
				}
			})
		}
	}
	if left := ownedContainers(t, n.repo); len(left) != 0 {
		t.Fatalf("containers left behind: %v", left)
	}
}

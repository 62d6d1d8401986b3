package dockerfallback

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// TestPlanWasm: which images are WASM ones, and the module, arguments and environment
// they run with, as docker run would combine the image's and the job's.
func TestPlanWasm(t *testing.T) {
	img := func(os, arch string, ep, cmd, env []string, wd string) image.InspectResponse {
		// As the engine sends it (the config's type is the image spec module's).
		b, _ := json.Marshal(map[string]any{"Os": os, "Architecture": arch,
			"Config": map[string]any{"Entrypoint": ep, "Cmd": cmd, "Env": env, "WorkingDir": wd}})
		var r image.InspectResponse
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, tt := range []struct {
		name    string
		img     image.InspectResponse
		task    job.DockerTask
		env     map[string]string
		ok      bool
		wantErr bool
		want    wasmPlan
	}{
		{name: "ordinary image", img: img("linux", "amd64", []string{"/bin/sh"}, nil, nil, ""), task: job.DockerTask{Image: "x"}},
		{name: "wasm file as a command only", img: img("linux", "amd64", nil, []string{"/m.wasm"}, nil, ""), task: job.DockerTask{Image: "x"}},
		{name: "platform wasi/wasm", img: img("wasi", "wasm", []string{"/m.wasm", "-v"}, []string{"a"}, []string{"K=image", "P=1"}, ""),
			task: job.DockerTask{Image: "x"}, env: map[string]string{"K": "job"}, ok: true,
			want: wasmPlan{Path: "/m.wasm", Args: []string{"-v", "a"}, Env: map[string]string{"K": "job", "P": "1"}, Why: "image x is wasi/wasm"}},
		{name: "platform wasi/wasm, a module not named .wasm", img: img("wasi", "wasm", []string{"/app"}, nil, nil, ""),
			task: job.DockerTask{Image: "x", Args: []string{"b"}}, ok: true,
			want: wasmPlan{Path: "/app", Args: []string{"b"}, Env: map[string]string{}, Why: "image x is wasi/wasm"}},
		{name: "platform wasi/wasm without an entrypoint", img: img("wasi", "wasm", nil, []string{"/m.wasm"}, nil, ""),
			task: job.DockerTask{Image: "x"}, ok: true, wantErr: true},
		{name: ".wasm entrypoint, relative to the working dir", img: img("linux", "amd64", []string{"m.wasm"}, []string{"a"}, nil, "/app"),
			task: job.DockerTask{Image: "x", Args: []string{"b", "c"}}, ok: true,
			want: wasmPlan{Path: "/app/m.wasm", Args: []string{"b", "c"}, Env: map[string]string{}, Why: "the entrypoint of image x is m.wasm"}},
		{name: "--entrypoint drops the image's command", img: img("linux", "amd64", []string{"/bin/sh"}, []string{"a"}, nil, ""),
			task: job.DockerTask{Image: "x", Entrypoint: []string{"/other.wasm"}}, ok: true,
			want: wasmPlan{Path: "/other.wasm", Args: []string{}, Env: map[string]string{}, Why: "the entrypoint of image x is /other.wasm"}},
		{name: "--entrypoint to a shell", img: img("linux", "amd64", []string{"/m.wasm"}, nil, nil, ""),
			task: job.DockerTask{Image: "x", Entrypoint: []string{"/bin/sh"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, ok, err := planWasm(tt.img, &tt.task, tt.env)
			if ok != tt.ok || (err != nil) != tt.wantErr {
				t.Fatalf("planWasm = %+v, %v, %v; want ok %v, error %v", p, ok, err, tt.ok, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, job.ErrInvalid) || !strings.Contains(err.Error(), "names no entrypoint") {
					t.Fatalf("error %v", err)
				}
				return
			}
			if ok && !reflect.DeepEqual(p, tt.want) {
				t.Fatalf("planWasm = %+v, want %+v", p, tt.want)
			}
		})
	}
}

type file struct {
	name string
	data string
	dir  bool
}

func tarOf(t *testing.T, gz bool, files ...file) []byte {
	t.Helper()
	var b bytes.Buffer
	var w = &b
	var zw *gzip.Writer
	tw := tar.NewWriter(w)
	if gz {
		zw = gzip.NewWriter(w)
		tw = tar.NewWriter(zw)
	}
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg}
		if f.dir {
			h.Typeflag, h.Size, h.Mode = tar.TypeDir, 0, 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// TestFileInArchive: the module is read out of a docker save archive as the layers
// stack up, whiteouts and opaque directories included, whatever the order of the
// archive's entries (manifest.json last, as the engine writes it) and with gzipped
// layers (an OCI layout's).
func TestFileInArchive(t *testing.T) {
	archive := func(layers ...[]byte) []byte {
		var files []file
		var names []string
		for i, l := range layers {
			name := "blobs/sha256/" + strings.Repeat(string(rune('a'+i)), 8)
			files = append(files, file{name: name, data: string(l)})
			names = append(names, name)
		}
		m, _ := json.Marshal([]map[string]any{{"Config": "c.json", "Layers": names}})
		files = append(files, file{name: "c.json", data: `{"os":"wasi"}`}, file{name: "manifest.json", data: string(m)})
		return tarOf(t, false, files...)
	}
	base := tarOf(t, false, file{name: "app/", dir: true}, file{name: "app/m.wasm", data: "v1"}, file{name: "other", data: "x"})
	for _, tt := range []struct {
		name   string
		layers [][]byte
		want   string
		err    string
	}{
		{"one layer", [][]byte{base}, "v1", ""},
		{"replaced, gzipped", [][]byte{base, tarOf(t, true, file{name: "./app/m.wasm", data: "v2"})}, "v2", ""},
		{"deleted", [][]byte{base, tarOf(t, false, file{name: "app/.wh.m.wasm"})}, "", "no such regular file"},
		{"deleted by an opaque parent", [][]byte{base, tarOf(t, false, file{name: "app/.wh..wh..opq"}, file{name: "app/n", data: "y"})}, "", "no such regular file"},
		{"deleted then added back", [][]byte{base, tarOf(t, false, file{name: "app/.wh.m.wasm"}), tarOf(t, false, file{name: "app/m.wasm", data: "v3"})}, "v3", ""},
		{"too big", [][]byte{tarOf(t, false, file{name: "app/m.wasm", data: strings.Repeat("z", 65)})}, "", "more than the limit"},
		{"a directory", [][]byte{tarOf(t, false, file{name: "app/m.wasm/", dir: true})}, "", "not a regular file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fileInArchive(bytes.NewReader(archive(tt.layers...)), "/app/m.wasm", 64)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("fileInArchive = %q, %v; want an error with %q", got, err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("fileInArchive = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

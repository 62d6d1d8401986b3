// Package dockertest is a Docker registry for tests: it serves, over the registry's v2
// API on loopback (which the engine pulls from over plain HTTP), one image made from a
// local one, so that tests pull for real where no registry is reachable.
//
//	reg := dockertest.NewRegistry(t, "bacalhau-test/busybox", dockertest.Options{User: "u", Password: "p"})
//	ref := reg.Ref("pulled") // 127.0.0.1:PORT/pulled:<unique tag>; removed from the engine when the test ends
package dockertest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options shape a Registry.
type Options struct {
	// User and Password, when User is set, are required of every request (HTTP
	// basic authentication); a request without them gets 401.
	User, Password string
	// Delay holds each manifest request this long: a slow pull.
	Delay time.Duration
}

// Registry serves one image under every name: the layers of a local image, under a
// config of its own (a label with the test's name and the time), so that the engine
// holds no image of that ID before it pulls.
type Registry struct {
	Host string // 127.0.0.1:PORT
	opts Options

	manifest []byte
	digest   string            // of the manifest
	blobs    map[string][]byte // digest -> config or gzipped layer

	closing chan struct{}

	mu           sync.Mutex
	refs         []string // handed out by Ref
	unauthorized int      // requests refused for want of credentials
	authorized   int      // requests with the right credentials
}

// NewRegistry serves source (a local image, read with docker save) until the test
// ends, and then removes from the engine what was pulled from it.
func NewRegistry(t testing.TB, source string, opts Options) *Registry {
	t.Helper()
	r := &Registry{opts: opts, blobs: map[string][]byte{}}
	if err := r.build(source, t.Name()); err != nil {
		t.Fatalf("dockertest: %v", err)
	}
	r.closing = make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	r.Host = strings.TrimPrefix(srv.URL, "http://")
	t.Cleanup(func() {
		close(r.closing) // a delayed request ends now
		srv.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, ref := range r.refs {
			exec.Command("docker", "rmi", "-f", ref).Run() // absent unless it was pulled
		}
	})
	return r
}

// Ref is an image reference to name in this registry, with a tag of its own.
func (r *Registry) Ref(name string) string {
	ref := fmt.Sprintf("%s/%s:t%d", r.Host, name, time.Now().UnixNano())
	r.mu.Lock()
	r.refs = append(r.refs, ref)
	r.mu.Unlock()
	return ref
}

// Requests says how many requests were refused for want of credentials and how many
// came with the right ones.
func (r *Registry) Requests() (unauthorized, authorized int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unauthorized, r.authorized
}

func (r *Registry) serve(w http.ResponseWriter, req *http.Request) {
	if r.opts.User != "" {
		u, p, ok := req.BasicAuth()
		r.mu.Lock()
		if !ok || u != r.opts.User || p != r.opts.Password {
			r.unauthorized++
			r.mu.Unlock()
			w.Header().Set("WWW-Authenticate", `Basic realm="dockertest"`)
			registryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return
		}
		r.authorized++
		r.mu.Unlock()
	}
	path := req.URL.Path
	switch {
	case path == "/v2/" || path == "/v2":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
	case strings.HasPrefix(path, "/v2/") && strings.Contains(path, "/manifests/"):
		select {
		case <-time.After(r.opts.Delay):
		case <-req.Context().Done():
			return
		case <-r.closing:
			return
		}
		w.Header().Set("Content-Type", manifestType)
		w.Header().Set("Docker-Content-Digest", r.digest)
		w.Header().Set("Content-Length", fmt.Sprint(len(r.manifest)))
		if req.Method != http.MethodHead {
			w.Write(r.manifest)
		}
	case strings.HasPrefix(path, "/v2/") && strings.Contains(path, "/blobs/"):
		b, ok := r.blobs[path[strings.LastIndex(path, "/")+1:]]
		if !ok {
			registryError(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown")
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		if req.Method != http.MethodHead {
			w.Write(b)
		}
	default:
		registryError(w, http.StatusNotFound, "NAME_UNKNOWN", "not found")
	}
}

func registryError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

const (
	manifestType = "application/vnd.docker.distribution.manifest.v2+json"
	configType   = "application/vnd.docker.container.image.v1+json"
	layerType    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

type descriptor struct {
	MediaType string `json:"mediaType"`
	Size      int    `json:"size"`
	Digest    string `json:"digest"`
}

// build reads source out of the engine (docker save) and makes the image served: its
// layers gzipped, its config labelled with mark.
func (r *Registry) build(source, mark string) error {
	out, err := exec.Command("docker", "save", source).Output()
	if err != nil {
		return fmt.Errorf("docker save %s: %v", source, err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("reading docker save's archive: %v", err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				return err
			}
			files[h.Name] = b
		}
	}
	var saved []struct {
		Config string
		Layers []string
	}
	if err := json.Unmarshal(files["manifest.json"], &saved); err != nil || len(saved) != 1 {
		return fmt.Errorf("docker save's manifest.json: %v (%d images)", err, len(saved))
	}
	var config map[string]any
	if err := json.Unmarshal(files[saved[0].Config], &config); err != nil {
		return fmt.Errorf("the image's config: %v", err)
	}
	c, _ := config["config"].(map[string]any)
	if c == nil {
		c = map[string]any{}
		config["config"] = c
	}
	labels, _ := c["Labels"].(map[string]any)
	if labels == nil {
		labels = map[string]any{}
		c["Labels"] = labels
	}
	labels["org.bacalhau-wasm.test.registry"] = fmt.Sprintf("%s %d", mark, time.Now().UnixNano())
	cb, err := json.Marshal(config)
	if err != nil {
		return err
	}
	m := struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Config        descriptor   `json:"config"`
		Layers        []descriptor `json:"layers"`
	}{SchemaVersion: 2, MediaType: manifestType, Config: r.add(configType, cb)}
	for _, l := range saved[0].Layers {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(files[l])
		zw.Close()
		m.Layers = append(m.Layers, r.add(layerType, gz.Bytes()))
	}
	if r.manifest, err = json.Marshal(m); err != nil {
		return err
	}
	r.digest = digest(r.manifest)
	return nil
}

func (r *Registry) add(mediaType string, b []byte) descriptor {
	d := digest(b)
	r.blobs[d] = b
	return descriptor{MediaType: mediaType, Size: len(b), Digest: d}
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

package sdk

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

func TestPooledLoop(t *testing.T) {
	var in []byte
	for i, name := range []string{"a", "b", "c"} {
		in = AppendFrame(in, map[string]string{"REQUEST_METHOD": "GET", "SCRIPT_NAME": "/fn/x", "PATH_INFO": "/" + name, "HTTP_X_N": string(rune('0' + i))}, []byte(name))
	}
	var out bytes.Buffer
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/fn/x/b" {
			panic("boom")
		}
		w.Header().Set("X-Split", "a\r\nSet-Cookie: x") // made safe, as net/http would
		w.Write([]byte(r.URL.Path + " " + string(b) + " " + r.Header.Get("X-N")))
	})
	if err := servePooled(h, bytes.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	var got []string
	rest := out.Bytes()
	for len(rest) > 0 {
		n := int(rest[0])<<24 | int(rest[1])<<16 | int(rest[2])<<8 | int(rest[3])
		got = append(got, strings.ReplaceAll(string(rest[4:4+n]), "\r\n", "|"))
		rest = rest[4+n:]
	}
	want := []string{
		"Status: 200 OK|Content-Type: text/plain; charset=utf-8|X-Split: a Set-Cookie: x||/fn/x/a a 0",
		"Status: 500 Internal Server Error||",
		"Status: 200 OK|Content-Type: text/plain; charset=utf-8|X-Split: a Set-Cookie: x||/fn/x/c c 2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("responses:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestReadFrameRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"short length": {0, 0},
		"huge env":     {0xff, 0xff, 0xff, 0xff},
		"cut env":      {0, 0, 0, 9, 'A', '='},
		"no body len":  {0, 0, 0, 0},
		"huge body":    {0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff},
	} {
		if _, _, err := ReadFrame(bytes.NewReader(b)); err == nil || err == io.EOF {
			t.Errorf("%s: %v, want an error", name, err)
		}
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add(AppendFrame(nil, map[string]string{"REQUEST_METHOD": "GET"}, []byte("x")))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		env, body, err := ReadFrame(bytes.NewReader(b))
		if err != nil {
			return
		}
		// What decodes re-encodes to a frame that decodes the same.
		env2, body2, err := ReadFrame(bytes.NewReader(AppendFrame(nil, env, body)))
		if err != nil || !bytes.Equal(body, body2) || len(env) != len(env2) {
			t.Fatalf("round trip: %v", err)
		}
		_, _ = NewRequest(env, bytes.NewReader(body))
	})
}

func FuzzNewRequest(f *testing.F) {
	f.Add("GET", "/fn/x/a", "q=1", "text/plain", "example.org")
	f.Fuzz(func(t *testing.T, method, path, query, ctype, host string) {
		env := map[string]string{"REQUEST_METHOD": method, "SCRIPT_NAME": "/fn/x", "PATH_INFO": path, "QUERY_STRING": query, "CONTENT_TYPE": ctype, "SERVER_NAME": host}
		r, err := NewRequest(env, strings.NewReader(""))
		if err == nil && r.Method == "" {
			t.Fatal("a request without a method")
		}
	})
}

// TestStdlibOnly: the SDK is compiled into every user's function: it imports the
// standard library only.
func TestStdlibOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/bacalhau-project/bacalhau-wasm/sdk" {
			t.Errorf("sdk depends on %s", p)
		}
	}
}

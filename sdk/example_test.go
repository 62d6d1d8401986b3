package sdk_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/bacalhau-project/bacalhau-wasm/sdk"
)

// A function is a plain net/http handler; in a real function main calls
// sdk.Serve(handler). Here ServeCGI answers one request as a fresh instance would.
func ExampleServeCGI() {
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "Hello, %s!\n", r.URL.Query().Get("name"))
	})
	env := map[string]string{"REQUEST_METHOD": "GET", "SCRIPT_NAME": "/fn/hello", "PATH_INFO": "/", "QUERY_STRING": "name=you", "SERVER_NAME": "node", "SERVER_PORT": "8080"}
	var out bytes.Buffer
	if err := sdk.ServeCGI(hello, env, strings.NewReader(""), &out); err != nil {
		panic(err)
	}
	fmt.Print(strings.ReplaceAll(out.String(), "\r\n", "\n"))
	// Output:
	// Status: 200 OK
	// Content-Type: text/plain
	//
	// Hello, you!
}

// In pooled mode the node hands an instance one frame per request.
func ExampleReadFrame() {
	frame := sdk.AppendFrame(nil, map[string]string{"REQUEST_METHOD": "POST", "PATH_INFO": "/sum"}, []byte(`{"numbers":[1,2]}`))
	env, body, err := sdk.ReadFrame(bytes.NewReader(frame))
	fmt.Println(env["REQUEST_METHOD"], env["PATH_INFO"], string(body), err)
	// Output: POST /sum {"numbers":[1,2]} <nil>
}

// A batch job walks its inputs and writes under /outputs.
func ExampleWalkInputs() {
	dir, _ := os.MkdirTemp("", "inputs")
	defer os.RemoveAll(dir)
	os.WriteFile(dir+"/a.txt", []byte("a"), 0o644)
	os.Mkdir(dir+"/sub", 0o755)
	os.WriteFile(dir+"/sub/b.txt", []byte("bb"), 0o644)
	_ = sdk.WalkInputs(dir, func(rel string, d os.DirEntry) error {
		fmt.Println(rel)
		return nil
	})
	// Output:
	// a.txt
	// sub/b.txt
}

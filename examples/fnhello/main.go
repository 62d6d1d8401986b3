// Command fnhello is the smallest function: it greets whoever the name query
// parameter names, or the world.
//
//	bacalhau fn deploy hello build/examples/fnhello.wasm
//	curl 'http://127.0.0.1:8080/fn/hello/?name=you'
package main

import (
	"fmt"
	"net/http"

	"github.com/bacalhau-project/bacalhau-wasm/sdk"
)

func main() { sdk.Serve(http.HandlerFunc(hello)) }

func hello(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "world"
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Hello, %s!\n", name)
}

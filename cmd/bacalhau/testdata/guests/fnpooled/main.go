// Command fnpooled is an SDK function for the tests of pooled mode, by path:
//
//	/count  answers how many requests this instance has served (state kept between requests)
//	/loop   spins forever
//	/exit   exits the instance with code 3
//	/panic  panics in the handler (the SDK answers 500 and the instance lives on)
package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/bacalhau-project/bacalhau-wasm/sdk"
)

var served int

func main() {
	sdk.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served++
		switch {
		case strings.HasSuffix(r.URL.Path, "/loop"):
			for {
			}
		case strings.HasSuffix(r.URL.Path, "/exit"):
			os.Exit(3)
		case strings.HasSuffix(r.URL.Path, "/panic"):
			panic("handler panic")
		}
		fmt.Println("to the logs, not the response")
		fmt.Fprintf(w, "%d", served)
	}))
}

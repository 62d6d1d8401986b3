// Package oneproc runs the program on one P (GOMAXPROCS=1) from its first package
// initialisation on. The light client imports it first: a command that sends a request
// and prints the answer gains nothing from a second P, and pays for it in page faults (a
// second mcache whose allocations take spans of their own, and the work of the
// packages' initialisation spread over two threads' stacks). On the 2-core VM this saved
// ~30 of the client's ~450 start page faults (RATIONALE.md, "Two binaries").
//
//	import "github.com/bacalhau-project/bacalhau-wasm/internal/oneproc"
//	...
//	oneproc.Honour(os.Getenv("GOMAXPROCS")) // first thing in main
//
// It imports only the runtime, so Go's initialisation order (a package as soon as its
// imports are initialised, by import path) runs it before the standard library's
// initialisation. For the same reason it cannot read the environment itself: main hands
// it the GOMAXPROCS variable, and Honour gives the user's setting back.
package oneproc

import "runtime"

func init() { runtime.GOMAXPROCS(1) }

// Honour applies a GOMAXPROCS environment setting, as the runtime reads it (a positive
// decimal number; anything else is ignored), which init has overridden.
func Honour(env string) {
	n := 0
	for _, c := range []byte(env) {
		if c < '0' || c > '9' || n > 1<<20 {
			return
		}
		n = n*10 + int(c-'0')
	}
	if n > 0 {
		runtime.GOMAXPROCS(n)
	}
}

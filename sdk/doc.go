// Package sdk turns a plain net/http handler into a Bacalhau function: a Go program
// compiled with GOOS=wasip1 GOARCH=wasm (standard Go, no TinyGo) that a node runs for
// the requests to /fn/<name>/ on its trigger port. It depends on the standard library
// only.
//
//	func main() {
//		sdk.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//			fmt.Fprintln(w, "Hello, world!")
//		}))
//	}
//
// The same binary works in both of the node's modes. Fresh (the default): the node
// starts an instance per request and speaks CGI (RFC 3875) to it: the request in
// environment variables and stdin, the response on stdout. Pooled: the node starts an
// instance once, with BACALHAU_FN_MODE=pooled, and hands it requests one after another
// as frames on stdin, reading each response as a frame on stdout. Serve hides both.
// In pooled mode os.Stdout is redirected to stderr, so what a handler prints goes to
// the function's logs and never into a response.
//
// The helpers WalkInputs and CreateOutput are for batch jobs (`bacalhau wasm run`):
// they walk the read-only inputs and create files under /outputs.
package sdk

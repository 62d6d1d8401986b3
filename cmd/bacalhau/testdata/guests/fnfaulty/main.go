// Command fnfaulty is a CGI function that misbehaves on demand, by PATH_INFO:
//
//	/loop       spins forever (for {})
//	/crlf       writes a header value with CRLF injected (a response splitting attempt)
//	/malformed  writes a header line with no colon
//	/nohead     writes a body with no header block
//	/trap       divides by zero (a runtime panic: the guest exits with code 2)
//	/big        writes 64 MiB
//	/stderr     writes a line to stderr, then answers as below
//	/env        answers with its SCRIPT_NAME, PATH_INFO and REQUEST_URI
//	anything else: 200 "ok <path>", echoing the body's length
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

var zero int

func main() {
	path := os.Getenv("PATH_INFO")
	body, _ := io.ReadAll(os.Stdin)
	switch path {
	case "/loop":
		for {
		}
	case "/crlf":
		fmt.Print("Content-Type: text/plain\r\nX-Evil: a\rSet-Cookie: injected=1\r\n\r\nsplit")
	case "/malformed":
		fmt.Print("Content-Type text/plain\r\n\r\nbody")
	case "/nohead":
		fmt.Print("just a body")
	case "/trap":
		fmt.Println(1 / zero)
	case "/big":
		fmt.Print("Content-Type: application/octet-stream\r\n\r\n")
		chunk := strings.Repeat("x", 1<<20)
		for i := 0; i < 64; i++ {
			fmt.Print(chunk)
		}
	case "/stderr":
		fmt.Fprintf(os.Stderr, "a line on stderr for %s\n", os.Getenv("BACALHAU_REQUEST_ID"))
		fmt.Printf("Content-Type: text/plain\r\n\r\nok %s %d\n", path, len(body))
	case "/env":
		fmt.Printf("Content-Type: text/plain\r\n\r\nscript=%s path=%s uri=%s\n", os.Getenv("SCRIPT_NAME"), os.Getenv("PATH_INFO"), os.Getenv("REQUEST_URI"))
	default:
		fmt.Printf("Content-Type: text/plain\r\nStatus: 200 OK\r\n\r\nok %s %d\n", path, len(body))
	}
}

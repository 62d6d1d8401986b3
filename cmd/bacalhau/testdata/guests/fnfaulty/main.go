// Command fnfaulty is a CGI function that misbehaves on demand, by PATH_INFO:
//
//	/loop       spins forever (for {})
//	/crlf       writes a header value with CRLF injected (a response splitting attempt)
//	/malformed  writes a header line with no colon
//	/nohead     writes a body with no header block
//	/trap       divides by zero (a runtime panic: the guest exits with code 2)
//	/big        writes 64 MiB
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
	default:
		fmt.Printf("Content-Type: text/plain\r\nStatus: 200 OK\r\n\r\nok %s %d\n", path, len(body))
	}
}

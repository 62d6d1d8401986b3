// Command hello is the smallest WASI function: it greets the world, or
// whoever its arguments name.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	if err := greet(os.Stdout, os.Args[1:]); err != nil {
		os.Exit(1)
	}
}

// greet writes "Hello, world!\n", or "Hello, <args joined by spaces>!\n"
// when args are given.
func greet(w io.Writer, args []string) error {
	name := "world"
	if len(args) > 0 {
		name = strings.Join(args, " ")
	}
	_, err := fmt.Fprintf(w, "Hello, %s!\n", name)
	return err
}

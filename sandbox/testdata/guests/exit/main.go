// Guest exit exits with the code given as argument, or panics on "panic".
package main

import (
	"os"
	"strconv"
)

func main() {
	if os.Args[1] == "panic" {
		panic("boom")
	}
	code, _ := strconv.Atoi(os.Args[1])
	os.Exit(code)
}

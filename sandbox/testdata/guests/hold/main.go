// Guest hold touches the number of MiB given as its argument, 1 MiB at a
// time (as a guest that builds up its data would), says "ready" on stdout,
// reads stdin to its end and says "done". Tests hold it in the middle of its
// run by giving it a stdin that blocks.
package main

import (
	"io"
	"os"
	"strconv"
)

var keep [][]byte

func main() {
	mib, err := strconv.Atoi(os.Args[1])
	if err != nil {
		os.Exit(2)
	}
	for range mib {
		b := make([]byte, 1<<20)
		for j := range b {
			b[j] = byte(j) | 1
		}
		keep = append(keep, b)
	}
	os.Stdout.WriteString("ready\n")
	io.Copy(io.Discard, os.Stdin)
	os.Stdout.WriteString("done\n")
}

// Guest flood writes to stdout or stderr (first argument) forever, or the
// given number of KiB (second argument) and then exits.
package main

import (
	"os"
	"strconv"
)

func main() {
	out := os.Stdout
	if os.Args[1] == "stderr" {
		out = os.Stderr
	}
	kib := -1
	if len(os.Args) > 2 {
		kib, _ = strconv.Atoi(os.Args[2])
	}
	line := make([]byte, 1024)
	for i := range line {
		line[i] = 'a' + byte(i%26)
	}
	line[1023] = '\n'
	for i := 0; kib < 0 || i < kib; i++ {
		out.Write(line)
	}
}

// Guest memhog allocates memory 1 MiB at a time and never frees it.
package main

import (
	"fmt"
	"os"
)

var keep [][]byte

func main() {
	for i := 1; ; i++ {
		b := make([]byte, 1<<20)
		for j := range b {
			b[j] = byte(j)
		}
		keep = append(keep, b)
		if i%16 == 0 {
			fmt.Fprintf(os.Stdout, "%d MiB\n", i)
		}
	}
}

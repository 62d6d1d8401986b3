// Guest spin never ends on its own: "spin" loops, "sleep" sleeps an hour.
// It says "started" on stdout first.
package main

import (
	"os"
	"time"
)

func main() {
	os.Stdout.WriteString("started\n")
	switch os.Args[1] {
	case "spin":
		for {
		}
	case "sleep":
		time.Sleep(time.Hour)
	}
}

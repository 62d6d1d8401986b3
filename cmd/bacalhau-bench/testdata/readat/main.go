// Command readat reads LENGTH bytes at OFFSET of the one file under /inputs and prints
// their SHA-256: a guest that touches a small range of a large input.
//
//	readat OFFSET LENGTH
package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 3 {
		return fmt.Errorf("usage: readat OFFSET LENGTH")
	}
	off, err := strconv.ParseInt(os.Args[1], 10, 64)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil {
		return err
	}
	ents, err := os.ReadDir("/inputs")
	if err != nil {
		return err
	}
	if len(ents) != 1 {
		return fmt.Errorf("want one file under /inputs, have %d entries", len(ents))
	}
	f, err := os.Open("/inputs/" + ents[0].Name())
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil {
		return err
	}
	fmt.Printf("%x\n", sha256.Sum256(buf))
	return nil
}

// Command trivial does nothing: the yardstick of a Go program's start, against which the
// client's start is measured.
package main

func main() {}

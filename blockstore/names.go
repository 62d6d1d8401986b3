package blockstore

import (
	"fmt"
	"strings"
)

// MaxNameLen is the longest directory entry name, in bytes, that the writers accept and
// the UnixFS reader allows: NAME_MAX of Linux and of most file systems, so any entry can
// be written back to a disk (`ipfs get`, a job's inputs). A longer name in a DAG from a
// peer or a CAR is ErrBadDAG; given to a writer, ErrBadPath.
const MaxNameLen = 255

// nameProblem says what is wrong with s as a directory entry name, or "" if nothing is.
// Long names are quoted cut short.
func nameProblem(s string) string {
	switch {
	case s == "":
		return "empty name"
	case s == "." || s == "..":
		return fmt.Sprintf("name %q", s)
	case strings.ContainsRune(s, '/'):
		return fmt.Sprintf("name %s contains '/'", quoteName(s))
	case strings.ContainsRune(s, 0):
		return fmt.Sprintf("name %s contains NUL", quoteName(s))
	case len(s) > MaxNameLen:
		return fmt.Sprintf("name %s (%d bytes) is longer than %d bytes", quoteName(s), len(s), MaxNameLen)
	}
	return ""
}

// validName reports whether s may name a directory entry.
func validName(s string) bool { return nameProblem(s) == "" }

// quoteName quotes s, cut to its first 40 bytes.
func quoteName(s string) string {
	if len(s) <= 40 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q...", s[:40])
}

// Package version holds the build's version string, set with -ldflags at build time. It
// imports nothing, so both the light client and the node can report it.
//
//	fmt.Println(version.Version)
package version

// Version is the version of this build, e.g. a git describe output.
var Version = "v0.1.0-dev"

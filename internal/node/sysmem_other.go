//go:build !linux

package node

func totalMemory() uint64 { return 0 }

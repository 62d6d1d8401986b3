//go:build !linux

package nodecmd

import "syscall"

func childAttr() *syscall.SysProcAttr { return nil }

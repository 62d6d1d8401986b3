package nodecmd

import "syscall"

// childAttr makes a devstack node die with the devstack, even if it is killed.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }

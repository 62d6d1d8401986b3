//go:build linux

package cli

import (
	"os"
	"syscall"
)

// fileIdentity is f's device, inode, size, modification and change times (ns).
func fileIdentity(f *os.File) (fileID, bool) {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return fileID{}, false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{int64(sys.Dev), int64(sys.Ino), sys.Size, st.ModTime().UnixNano(),
		int64(sys.Ctim.Sec)*1e9 + int64(sys.Ctim.Nsec)}, true
}

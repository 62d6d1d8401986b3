package node

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// totalMemory is the memory this process may use in bytes: the machine's RAM, or its
// control group's limit when that is lower (a node in a container must not offer the
// host's RAM and be killed at the container's limit).
func totalMemory() uint64 {
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) != nil {
		return 0
	}
	total := uint64(si.Totalram) * uint64(si.Unit)
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if limit, ok := cgroupLimit(f); ok && limit < total {
			total = limit
		}
	}
	return total
}

// cgroupLimit reads a cgroup memory limit file ("max" or a byte count).
func cgroupLimit(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return v, err == nil && v > 0
}

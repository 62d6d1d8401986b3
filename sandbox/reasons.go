package sandbox

// The words of Result.Reason, for other engines that report the same ends
// (sandbox/wasmtime) so that users read one text whatever ran their guest.

// MemoryReason is Result.Reason when the memory limit stopped a guest.
func MemoryReason(limit uint64) string { return memoryReason(limit) }

// StartMemoryReason is Result.Reason when a module's initial memory, need
// bytes, is over the limit.
func StartMemoryReason(need, limit uint64) string { return startMemoryReason(need, limit) }

// OutputsReason is Result.Reason when a guest hit its outputs limit.
func OutputsReason(limit int64) string { return outputsReason(limit) }

// FormatBytes writes n in the largest binary unit that divides it.
func FormatBytes(n uint64) string { return formatBytes(n) }

package job

import (
	"errors"
	"testing"
)

// TestMemoryMinimum: a memory limit below one WebAssembly page cannot run
// anything; Validate says what the minimum is.
func TestMemoryMinimum(t *testing.T) {
	s := wasmSpec()
	s.Memory = 1000
	s.Normalize()
	err := s.Validate()
	want := "job: invalid spec: memory 1000 bytes is below the minimum of 64 KiB (one WebAssembly page)"
	if err == nil || err.Error() != want || !errors.Is(err, ErrInvalid) {
		t.Fatalf("Validate() = %v, want %q", err, want)
	}
	for _, ok := range []uint64{64 << 10, 64<<10 + 1, 1 << 20} {
		s.Memory = ok
		if err := s.Validate(); err != nil {
			t.Errorf("memory %d: Validate() = %v, want nil", ok, err)
		}
	}
}

package job

import "testing"

func TestEffectiveMemory(t *testing.T) {
	for _, tc := range []struct {
		mem, want uint64
	}{
		{0, DefaultMemory},
		{1, 1},
		{MinMemory, MinMemory},
		{DefaultMemory, DefaultMemory},
		{MaxMemory, MaxMemory},
		{MaxMemory + 1, MaxMemory + 1}, // a spec's own limit is Validate's to enforce
	} {
		if got := (&Spec{Memory: tc.mem}).EffectiveMemory(); got != tc.want {
			t.Errorf("EffectiveMemory(Memory: %d) = %d, want %d", tc.mem, got, tc.want)
		}
	}
}

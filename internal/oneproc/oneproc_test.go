package oneproc

import (
	"runtime"
	"testing"
)

// TestOneP: importing the package puts the program on one P.
func TestOneP(t *testing.T) {
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Fatalf("GOMAXPROCS is %d after initialisation, want 1", n)
	}
}

// TestHonour: a GOMAXPROCS setting the runtime would take is applied again; anything
// else leaves one P.
func TestHonour(t *testing.T) {
	defer runtime.GOMAXPROCS(1)
	for _, tc := range []struct {
		env  string
		want int
	}{
		{"", 1}, {"3", 3}, {"2", 2}, {"0", 1}, {"-2", 1}, {"x", 1}, {"2x", 1}, {" 2", 1}, {"99999999999999999999", 1},
	} {
		runtime.GOMAXPROCS(1)
		Honour(tc.env)
		if n := runtime.GOMAXPROCS(0); n != tc.want {
			t.Errorf("Honour(%q): GOMAXPROCS %d, want %d", tc.env, n, tc.want)
		}
	}
}

package dockerfallback

import (
	"bytes"
	"testing"
)

// TestCapped: output past the cap is dropped and reported, and the writer never fails
// the container's stream.
func TestCapped(t *testing.T) {
	var buf bytes.Buffer
	c := &capped{w: &buf, left: 5}
	for _, s := range []string{"abc", "defg", "hij"} {
		if n, err := c.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if buf.String() != "abcde" || !c.truncated {
		t.Fatalf("got %q, truncated %v", buf.String(), c.truncated)
	}
}

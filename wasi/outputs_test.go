package wasi

import (
	"errors"
	"testing"
)

func TestValidateOutputsLimit(t *testing.T) {
	dir := t.TempDir()
	if err := (Config{OutputsDir: dir, OutputsLimit: 1 << 20}).Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
	err := Config{OutputsDir: dir, OutputsLimit: -1}.Validate()
	if !errors.Is(err, ErrInvalidConfig) || err.Error() != "wasi: invalid config: negative outputs limit -1" {
		t.Errorf("Validate() = %v, want the negative limit refused", err)
	}
}

package sandbox

import (
	"context"
	crand "crypto/rand"
	"errors"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/sys"
)

// realtime gives a guest the host's clocks and randomness (wasi.Config.Realtime). A
// sleep still ends, and ends the guest, when the run is over.
func realtime(ctx context.Context, cfg wazero.ModuleConfig) wazero.ModuleConfig {
	return cfg.WithSysWalltime().WithSysNanotime().
		WithRandSource(crand.Reader).
		WithNanosleep(func(ns int64) {
			t := time.NewTimer(time.Duration(ns))
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				code := sys.ExitCodeContextCanceled
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					code = sys.ExitCodeDeadlineExceeded
				}
				panic(sys.NewExitError(code))
			}
		})
}

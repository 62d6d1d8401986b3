//go:build cgo && linux && !nowasmtime

package wasmtime

/*
#include <stdint.h>
#include <stddef.h>

// Declarations of the wasmtime C API (linked by wasmtime-go) that wasmtime-go
// does not wrap: the pooling instance allocator.
typedef struct wasm_config_t wasm_config_t;
typedef struct wasmtime_pooling_allocation_config_t wasmtime_pooling_allocation_config_t;
extern wasmtime_pooling_allocation_config_t *wasmtime_pooling_allocation_config_new();
extern void wasmtime_pooling_allocation_config_delete(wasmtime_pooling_allocation_config_t *);
extern void wasmtime_pooling_allocation_config_total_core_instances_set(wasmtime_pooling_allocation_config_t *, uint32_t);
extern void wasmtime_pooling_allocation_config_total_memories_set(wasmtime_pooling_allocation_config_t *, uint32_t);
extern void wasmtime_pooling_allocation_config_total_tables_set(wasmtime_pooling_allocation_config_t *, uint32_t);
extern void wasmtime_pooling_allocation_config_max_tables_per_module_set(wasmtime_pooling_allocation_config_t *, uint32_t);
extern void wasmtime_pooling_allocation_config_table_elements_set(wasmtime_pooling_allocation_config_t *, size_t);
extern void wasmtime_pooling_allocation_config_max_memory_size_set(wasmtime_pooling_allocation_config_t *, size_t);
extern void wasmtime_pooling_allocation_config_linear_memory_keep_resident_set(wasmtime_pooling_allocation_config_t *, size_t);
extern void wasmtime_pooling_allocation_config_table_keep_resident_set(wasmtime_pooling_allocation_config_t *, size_t);
extern void wasmtime_pooling_allocation_strategy_set(wasm_config_t *, const wasmtime_pooling_allocation_config_t *);
*/
import "C"

import (
	"errors"
	"reflect"

	wt "github.com/bytecodealliance/wasmtime-go/v39"
)

// Bounds of the pooling allocator's slots, beside Options.MaxInstances.
const (
	// poolTableElements bounds a module's table: a Go guest's holds one entry
	// per function that is called indirectly, thousands for a small program.
	poolTableElements   = 1 << 20
	poolTablesPerModule = 4
	// poolMaxMemory is what one linear memory may grow to, the most a 32-bit
	// memory can hold: the store's limiter enforces each run's own limit.
	poolMaxMemory = 4 << 30
)

// usePooling makes the engine of cfg allocate instances from a pool of
// slots reused from one run to the next, instead of mapping a new memory per
// instance and unmapping it after: on this machine a fresh memory's page
// faults were most of a Go hello's run. keepResident bytes of each memory
// stay mapped after a run and are zeroed rather than given back to the
// kernel, so that the next instance does not fault on them again.
func usePooling(cfg *wt.Config, slots uint32, keepResident uint64) error {
	f := reflect.ValueOf(cfg).Elem().FieldByName("_ptr")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.IsNil() {
		return errors.New("wasmtime: this wasmtime-go has no Config._ptr")
	}
	p := C.wasmtime_pooling_allocation_config_new()
	defer C.wasmtime_pooling_allocation_config_delete(p)
	C.wasmtime_pooling_allocation_config_total_core_instances_set(p, C.uint32_t(slots))
	C.wasmtime_pooling_allocation_config_total_memories_set(p, C.uint32_t(slots))
	C.wasmtime_pooling_allocation_config_total_tables_set(p, C.uint32_t(slots*poolTablesPerModule))
	C.wasmtime_pooling_allocation_config_max_tables_per_module_set(p, poolTablesPerModule)
	C.wasmtime_pooling_allocation_config_table_elements_set(p, poolTableElements)
	C.wasmtime_pooling_allocation_config_max_memory_size_set(p, poolMaxMemory)
	C.wasmtime_pooling_allocation_config_linear_memory_keep_resident_set(p, C.size_t(keepResident))
	C.wasmtime_pooling_allocation_config_table_keep_resident_set(p, C.size_t(keepResident/16))
	C.wasmtime_pooling_allocation_strategy_set((*C.wasm_config_t)(f.UnsafePointer()), p)
	return nil
}

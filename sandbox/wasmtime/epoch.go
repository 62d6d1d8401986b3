//go:build cgo && linux && !nowasmtime

package wasmtime

/*
#include <stdint.h>
#include <stdlib.h>

// Declarations of the wasmtime C API (linked by wasmtime-go) that wasmtime-go
// does not wrap: the epoch deadline callback.
typedef struct wasmtime_store wasmtime_store_t;
typedef struct wasmtime_context wasmtime_context_t;
typedef struct wasmtime_error wasmtime_error_t;
typedef uint8_t wasmtime_update_deadline_kind_t;
extern void wasmtime_store_epoch_deadline_callback(wasmtime_store_t *store,
    wasmtime_error_t *(*func)(wasmtime_context_t *, void *, uint64_t *, wasmtime_update_deadline_kind_t *),
    void *data, void (*finalizer)(void *));
extern wasmtime_error_t *wasmtime_error_new(const char *);
extern wasmtime_error_t *bacalhauEpochDeadline(wasmtime_context_t *, void *, uint64_t *, wasmtime_update_deadline_kind_t *);
*/
import "C"

import (
	"errors"
	"reflect"
	"sync"
	"unsafe"

	wt "github.com/bytecodealliance/wasmtime-go/v39"
)

// runs maps the id given to a store's epoch callback to its run.
var runs struct {
	sync.Mutex
	next uint64
	m    map[uint64]*runState
}

// register makes r reachable from the epoch callback of store and returns
// the function that forgets it.
func register(store *wt.Store, r *runState) (func(), error) {
	p, err := storePtr(store)
	if err != nil {
		return nil, err
	}
	runs.Lock()
	if runs.m == nil {
		runs.m = map[uint64]*runState{}
	}
	runs.next++
	id := runs.next
	runs.m[id] = r
	runs.Unlock()
	data := C.malloc(8)
	*(*uint64)(data) = id
	C.wasmtime_store_epoch_deadline_callback((*C.wasmtime_store_t)(p), (*[0]byte)(C.bacalhauEpochDeadline), data, (*[0]byte)(C.free))
	return func() {
		runs.Lock()
		delete(runs.m, id)
		runs.Unlock()
	}, nil
}

// storePtr is the C store behind s. wasmtime-go keeps it unexported, and wraps
// neither the epoch deadline callback nor a way to reach it.
func storePtr(s *wt.Store) (unsafe.Pointer, error) {
	f := reflect.ValueOf(s).Elem().FieldByName("_ptr")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.IsNil() {
		return nil, errors.New("wasmtime: this wasmtime-go has no Store._ptr")
	}
	return f.UnsafePointer(), nil
}

var interruptMsg = C.CString("interrupted by the host")

// bacalhauEpochDeadline runs on the guest's thread at every epoch tick the
// guest's code passes: it lets the guest go on for one more tick, or ends it
// if its run was stopped.
//
//export bacalhauEpochDeadline
func bacalhauEpochDeadline(_ *C.wasmtime_context_t, data unsafe.Pointer, delta *C.uint64_t, kind *C.wasmtime_update_deadline_kind_t) *C.wasmtime_error_t {
	id := *(*uint64)(data)
	runs.Lock()
	r := runs.m[id]
	runs.Unlock()
	if r == nil || r.stopped() {
		return C.wasmtime_error_new(interruptMsg)
	}
	*delta = 1
	*kind = 0 // WASMTIME_UPDATE_DEADLINE_CONTINUE
	return nil
}

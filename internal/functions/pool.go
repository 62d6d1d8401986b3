package functions

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
	"github.com/bacalhau-project/bacalhau-wasm/sdk"
	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// A pooled instance is one run of the module that the SDK (or any guest speaking the
// same framing) keeps alive: the host writes a request frame to its stdin (see
// sdk.AppendFrame) and reads the response, a big-endian uint32 length and a CGI
// response, from its stdout. One request at a time per instance.

var errKilled = errors.New("functions: instance stopped")

// startAllowance is what a new pooled instance gets, besides the request's timeout, to
// load (compile) its module and initialise.
const startAllowance = time.Minute

// pool holds the instances of one version of one function.
type pool struct {
	rt      *Runtime
	f       *job.Function
	idle    chan *instance // cap f.PoolSize
	freed   chan struct{}  // signalled when an instance ends: a waiter may start one
	live    int            // guarded by rt.mu
	retired bool           // guarded by rt.mu
}

type instance struct {
	p      *pool
	stdin  *io.PipeWriter
	frames chan []byte
	done   chan struct{} // the run is over; res and runErr are set
	ready  chan struct{} // closed at the guest's first read of stdin: loaded and initialised
	res    sandbox.Result
	runErr error
	cancel context.CancelFunc
	broken atomic.Pointer[string] // a protocol error the guest made
	served int
	stderr *tailBuffer
	// cur is the stderr record of the request the instance serves (Request.stderr).
	cur atomic.Pointer[tailBuffer]
}

func poolKey(f *job.Function) string {
	return f.Name + "@" + strconv.FormatInt(f.Version, 10) + "/" + f.Deployer + "/" + f.Module.String()
}

func (rt *Runtime) poolOf(f *job.Function) (*pool, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return nil, errClosed
	}
	k := poolKey(f)
	p := rt.pools[k]
	if p == nil {
		p = &pool{rt: rt, f: f, idle: make(chan *instance, f.PoolSize), freed: make(chan struct{}, 1)}
		rt.pools[k] = p
	}
	return p, nil
}

func (rt *Runtime) invokePooled(ctx context.Context, f *job.Function, req *Request) (*Response, bool, error) {
	p, err := rt.poolOf(f)
	if err != nil {
		return nil, false, fail(http.StatusServiceUnavailable, "the node is shutting down")
	}
	inst, cold, err := p.acquire(ctx)
	if err != nil {
		return nil, cold, err
	}
	resp, ok, err := inst.do(ctx, req)
	p.release(inst, ok)
	return resp, cold, err
}

// acquire returns an idle instance, or starts one if the pool and the node have room,
// or waits for one.
func (p *pool) acquire(ctx context.Context) (*instance, bool, error) {
	rt := p.rt
	t := time.NewTimer(rt.cfg.QueueTimeout)
	defer t.Stop()
	for {
		select {
		case inst := <-p.idle:
			if inst.alive() {
				return inst, false, nil
			}
			continue
		default:
		}
		rt.mu.Lock()
		if p.retired {
			rt.mu.Unlock()
			return nil, false, fail(http.StatusServiceUnavailable, "function %s was redeployed or deleted", p.f.Name)
		}
		if p.live < p.f.PoolSize {
			if rt.instances >= rt.cfg.MaxInstances {
				victim := rt.idleVictimLocked(p)
				if victim == nil {
					rt.mu.Unlock()
					return nil, false, fail(http.StatusTooManyRequests, "the node runs its limit of %d pooled instances, all busy", rt.cfg.MaxInstances)
				}
				victim.kill()
			}
			p.live++
			rt.instances++
			rt.mu.Unlock()
			inst, err := p.start()
			if err != nil {
				return nil, true, err
			}
			return inst, true, nil
		}
		rt.mu.Unlock()
		select {
		case inst := <-p.idle:
			if inst.alive() {
				return inst, false, nil
			}
		case <-p.freed:
		case <-t.C:
			return nil, false, fail(http.StatusTooManyRequests, "function %s's %d pooled instances stayed busy for %s", p.f.Name, p.f.PoolSize, rt.cfg.QueueTimeout)
		case <-ctx.Done():
			return nil, false, fail(http.StatusServiceUnavailable, "request cancelled while waiting: %v", ctx.Err())
		}
	}
}

// idleVictimLocked takes an idle instance of another pool out of it, to make room on
// the node; nil if there is none.
func (rt *Runtime) idleVictimLocked(except *pool) *instance {
	for _, q := range rt.pools {
		if q == except {
			continue
		}
		select {
		case inst := <-q.idle:
			return inst
		default:
		}
	}
	return nil
}

// start runs a new instance; the pool's live count already holds its place.
func (p *pool) start() (*instance, error) {
	rt, f := p.rt, p.f
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	inst := &instance{p: p, stdin: pw, frames: make(chan []byte, 1), done: make(chan struct{}), cancel: cancel,
		stderr: &tailBuffer{max: 4 << 10}, ready: make(chan struct{})}
	ended := func() {
		rt.mu.Lock()
		p.live--
		rt.instances--
		rt.mu.Unlock()
		select {
		case p.freed <- struct{}{}:
		default:
		}
	}
	mounts, err := rt.host.Mounts(ctx, f.Inputs)
	if err != nil {
		cancel()
		ended()
		return nil, fail(http.StatusBadGateway, "function %s's inputs: %v", f.Name, err)
	}
	env := maps.Clone(f.Env)
	if env == nil {
		env = map[string]string{}
	}
	env[sdk.ModeEnv] = "pooled"
	out := &frameWriter{inst: inst, max: rt.cfg.MaxResponse}
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		t0 := time.Now()
		res, err := rt.engines[f.EngineOf()].Run(ctx, sandbox.Guest{
			ModuleKey: f.Module.String(), Module: rt.loader(f.Module),
			WASI: wasi.Config{Program: f.Name, Env: env, Mounts: mounts, Stdin: &readySignal{r: pr, ready: inst.ready}, Stdout: out,
				Stderr: instanceStderr{inst}, Realtime: true},
			MemoryLimit: f.Memory, OutputLimit: 1 << 62,
		})
		inst.res, inst.runErr = res, err
		pr.CloseWithError(errKilled)
		cancel()
		close(inst.done)
		ended()
		rt.log.Debug("pooled instance ended", "function", f.Name, "served", inst.served, "after", time.Since(t0), "reason", res.Reason, "err", err)
	}()
	if m := rt.cfg.Metrics; m != nil {
		m.instanceStarted(f.Name)
	}
	return inst, nil
}

func (inst *instance) alive() bool {
	select {
	case <-inst.done:
		return false
	default:
		return inst.broken.Load() == nil
	}
}

// kill stops the instance; its run goroutine ends it.
func (inst *instance) kill() {
	inst.cancel()
	inst.stdin.CloseWithError(errKilled)
}

// do hands req to the instance and waits for its response. ok says whether the
// instance may serve again.
func (inst *instance) do(ctx context.Context, req *Request) (_ *Response, ok bool, _ error) {
	f := inst.p.f
	frame := sdk.AppendFrame(nil, CGIEnv(req, nil), req.Body)
	if req.stderr != nil {
		inst.cur.Store(req.stderr)
		defer inst.cur.Store(nil)
	}
	werr := make(chan error, 1)
	go func() { _, err := inst.stdin.Write(frame); werr <- err }()
	// A new instance loads (compiles, at worst) and initialises first: like a fresh
	// run's, the request's timeout starts once the guest is running, here when it
	// asks for its first request, which it must do within startAllowance more.
	st := time.NewTimer(time.Duration(f.Timeout) + startAllowance)
	defer st.Stop()
	select {
	case <-st.C:
		inst.kill()
		return nil, false, fail(http.StatusGatewayTimeout, "function %s's new instance did not ask for a request within %s of its start (is it built with sdk.Serve?)", f.Name, time.Duration(f.Timeout)+startAllowance)
	case <-inst.ready:
	case <-inst.done:
		return nil, false, inst.endError()
	case <-ctx.Done():
		inst.kill()
		return nil, false, fail(http.StatusServiceUnavailable, "request cancelled: %v", ctx.Err())
	}
	t := time.NewTimer(time.Duration(f.Timeout))
	defer t.Stop()
	var out []byte
	select {
	case out = <-inst.frames:
	case <-inst.done:
		return nil, false, inst.endError()
	case <-t.C:
		inst.kill()
		return nil, false, fail(http.StatusGatewayTimeout, "function %s did not answer within its timeout of %s", f.Name, time.Duration(f.Timeout))
	case <-ctx.Done():
		inst.kill()
		return nil, false, fail(http.StatusServiceUnavailable, "request cancelled: %v", ctx.Err())
	}
	// The guest answered; it must have read the whole request, or the next one would
	// be misframed.
	select {
	case err := <-werr:
		if err != nil {
			inst.kill()
			return nil, false, fail(http.StatusBadGateway, "function %s: %v", f.Name, err)
		}
	case <-t.C:
		inst.kill()
		return nil, false, fail(http.StatusBadGateway, "function %s answered without reading its request", f.Name)
	}
	inst.served++
	resp, err := ParseResponse(out)
	if err != nil {
		return nil, true, fail(http.StatusBadGateway, "function %s: %v", f.Name, err)
	}
	return resp, true, nil
}

// endError says why an instance ended while it had a request.
func (inst *instance) endError() error {
	f := inst.p.f
	if b := inst.broken.Load(); b != nil {
		return fail(http.StatusBadGateway, "function %s: %s", f.Name, *b)
	}
	if inst.runErr != nil {
		return fail(http.StatusBadGateway, "function %s cannot run: %v", f.Name, inst.runErr)
	}
	if e := resultError(f, inst.res, inst.stderr); e != nil {
		return e
	}
	return fail(http.StatusBadGateway, "function %s exited before answering: is it built with sdk.Serve, which pooled mode needs?%s", f.Name, inst.stderr.suffix())
}

// release returns inst to the pool, or stops it: after a failure, after f.Recycle
// requests, or when its version was replaced.
func (p *pool) release(inst *instance, ok bool) {
	rt := p.rt
	rt.mu.Lock()
	retired := p.retired
	rt.mu.Unlock()
	if !ok || retired || inst.served >= p.f.Recycle || !inst.alive() {
		inst.kill()
		return
	}
	select {
	case p.idle <- inst:
	default:
		inst.kill()
	}
}

// retire stops the pool's idle instances; busy ones stop when they are released.
func (p *pool) retire() {
	p.rt.mu.Lock()
	p.retired = true
	p.rt.mu.Unlock()
	for {
		select {
		case inst := <-p.idle:
			inst.kill()
		default:
			return
		}
	}
}

// retire retires name's pools other than version keep (-1: all).
func (rt *Runtime) retire(name string, keep int64) {
	rt.mu.Lock()
	var old []*pool
	for k, p := range rt.pools {
		if p.f.Name == name && p.f.Version != keep {
			old = append(old, p)
			delete(rt.pools, k)
		}
	}
	rt.mu.Unlock()
	for _, p := range old {
		p.retire()
	}
}

// Deployed tells the runtime that f is name's current version: older versions'
// instances finish their requests and stop.
func (rt *Runtime) Deployed(f *job.Function) { rt.retire(f.Name, f.Version) }

// PoolSizes reports the live pooled instances per function.
func (rt *Runtime) PoolSizes() map[string]int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := map[string]int{}
	for _, p := range rt.pools {
		out[p.f.Name] += p.live
	}
	return out
}

// frameWriter is a pooled instance's stdout: it cuts the response frames out of what
// the guest writes.
type frameWriter struct {
	inst *instance
	max  int64
	buf  []byte
}

func (w *frameWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for len(w.buf) >= 4 {
		n := int64(binary.BigEndian.Uint32(w.buf))
		if n > w.max {
			return 0, w.fail(fmt.Sprintf("response frame of %d bytes is over the node's limit of %d", n, w.max))
		}
		if int64(len(w.buf)) < 4+n {
			break
		}
		frame := append([]byte(nil), w.buf[4:4+n]...)
		w.buf = w.buf[4+n:]
		select {
		case w.inst.frames <- frame:
		default:
			return 0, w.fail("wrote a response nobody asked for (pooled mode: print to stderr, not stdout)")
		}
	}
	return len(p), nil
}

func (w *frameWriter) fail(reason string) error {
	w.inst.broken.CompareAndSwap(nil, &reason)
	w.inst.cancel()
	w.inst.stdin.CloseWithError(errKilled)
	return errors.New(reason)
}

// instanceStderr is a pooled instance's stderr: its own tail, for the reason it
// ended, and the record of the request it serves.
type instanceStderr struct{ inst *instance }

func (w instanceStderr) Write(p []byte) (int, error) {
	if t := w.inst.cur.Load(); t != nil {
		t.Write(p)
	}
	return w.inst.stderr.Write(p)
}

// readySignal closes ready at the first Read: the guest is initialised and waits for a
// request.
type readySignal struct {
	r     io.Reader
	ready chan struct{}
	once  sync.Once
}

func (s *readySignal) Read(p []byte) (int, error) {
	s.once.Do(func() { close(s.ready) })
	return s.r.Read(p)
}

package requester

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// The requester side: every job submitted to this node is driven by one goroutine that
// announces it, collects bids, accepts the best, watches the executions' nodes, gives
// up on silent ones and schedules again, and settles the job when enough executions
// have ended (comparing their result CIDs when the job asks for verification).

// Timing of the drive loop.
const (
	driveTick    = 250 * time.Millisecond
	retryMin     = 500 * time.Millisecond
	retryMax     = 10 * time.Second
	acceptTimout = 5 * time.Second
)

// startDrive starts the drive loop of a job this node owns, unless one runs already.
func (r *Requester) startDrive(id string) {
	if _, loaded := r.driving.LoadOrStore(id, struct{}{}); loaded {
		return
	}
	if !r.goTrack(func() {
		defer r.driving.Delete(id)
		r.drive(id)
	}) {
		r.driving.Delete(id)
	}
}

func (r *Requester) drive(id string) {
	sub := r.watch.subscribe(id)
	defer r.watch.unsubscribe(id, sub)
	tick := time.NewTicker(driveTick)
	defer tick.Stop()
	backoff := retryMin
	var retryAt time.Time
	why := "" // why the last round found too few nodes
	for {
		if r.ctx.Err() != nil {
			return
		}
		j, err := r.jobs.Get(id)
		if err != nil || j.State.Terminal() {
			return
		}
		if r.checkLive(j) {
			continue
		}
		live, done := Tally(j)
		need := Wanted(j) - live - done
		// A change that cannot be written (a full disk) is tried again at the next
		// tick, not at once: the loop must not spin on a failing store.
		stuck := false
		if live == 0 && j.QueueTime(r.now()) >= j.Spec.EffectiveQueueTimeout() {
			if stuck = r.queueTimedOut(id) != nil; !stuck {
				continue
			}
		}
		if !stuck && need > 0 && live == 0 && j.State == job.StateRunning && why != "" {
			// Nothing runs it any more (its executions ended or were given up) and the
			// last round found too few nodes: it waits for nodes, so it is pending.
			if stuck = r.waiting(id, need, why) != nil; !stuck {
				continue
			}
		}
		if !stuck && need > 0 && !time.Now().Before(retryAt) {
			got, reason := r.scheduleRound(j, need)
			if got < need {
				why = reason
				r.waiting(id, need-got, why)
				retryAt = time.Now().Add(backoff)
				backoff = min(2*backoff, retryMax)
			} else {
				why = ""
				backoff = retryMin
			}
			continue
		}
		// The ticker is for watching remote nodes and for retries; a job whose
		// executions all run here only wakes on its own changes, so a long local
		// queue costs no polling.
		var tc <-chan time.Time
		if need > 0 || stuck || RemoteLive(j, r.id) {
			tc = tick.C
		}
		select {
		case <-sub:
		case <-tc:
		case <-r.ctx.Done():
			return
		}
	}
}

// waiting records, once per distinct reason, why a job is still pending. A running job
// with no execution under way any more goes back to pending with the reason.
// It returns an error only when the change could not be written.
func (r *Requester) waiting(id string, missing int, why string) error {
	msg := waitingPrefix + fmt.Sprintf("%d more node(s): %s", missing, why)
	_, err := r.update(id, func(j *job.Job) error {
		if j.State.Terminal() {
			return errGivenUp
		}
		live, _ := Tally(j)
		if j.State == job.StateRunning && live == 0 {
			return j.Transition(job.StatePending, msg, r.now())
		}
		if h := j.History[len(j.History)-1]; h.Message == msg {
			return ErrUnchanged
		}
		j.Log(r.now(), "", msg)
		return nil
	})
	if err != nil && !errors.Is(err, ErrUnchanged) && !errors.Is(err, errGivenUp) {
		r.log.Warn("record why a job waits", "job", id, "err", err)
		return err
	}
	return nil
}

// NoEngineReason is why a job waits when no node of the network offers its engine.
func NoEngineReason(e job.Engine) string { return "no node offers engine " + string(e) }

// waitingPrefix starts the history messages of waiting.
const waitingPrefix = "waiting for "

// queueTimedOut fails a job that waited for nodes longer than its queue timeout, with
// the last reason it waited for.
func (r *Requester) queueTimedOut(id string) error {
	_, err := r.update(id, func(j *job.Job) error {
		if live, _ := Tally(j); j.State.Terminal() || live > 0 {
			return ErrUnchanged
		}
		limit := j.Spec.EffectiveQueueTimeout()
		reason := "no node took the job within " + limit.String()
		for i := len(j.History) - 1; i >= 0; i-- {
			if m := j.History[i].Message; strings.HasPrefix(m, waitingPrefix) {
				reason += ": " + m
				break
			}
		}
		return j.Transition(job.StateFailed, reason, r.now())
	})
	if err != nil && !errors.Is(err, ErrUnchanged) {
		r.log.Warn("queue timeout", "job", id, "err", err)
		return err
	}
	return nil
}

// scheduleRound announces the job, collects bids for up to the bid window (less when
// every live node that could bid has), and accepts the best need of them.
func (r *Requester) scheduleRound(j *job.Job, need int) (int, string) {
	exclude := map[peer.ID]bool{}
	var excluded []peer.ID
	for _, e := range j.Executions {
		if p, err := peer.Decode(e.NodeID); err == nil && !exclude[p] {
			exclude[p] = true
			excluded = append(excluded, p)
		}
	}
	ch := make(chan Bid, 64)
	r.bidMu.Lock()
	r.bids[j.ID] = ch
	r.bidMu.Unlock()
	defer func() {
		r.bidMu.Lock()
		delete(r.bids, j.ID)
		r.bidMu.Unlock()
	}()

	var bids []Bid
	// Why the nodes whose labels match cannot run the job (too little memory, ...).
	var cannot []string
	// labelled: a node has the labels (excluded or not); runner: one of them also
	// runs the engine. They say why no node bids when none can.
	labelled := job.Matches(j.Spec.Selector, r.cfg.Labels)
	runner := labelled && r.cfg.Local.Runs(j.Spec.Engine)
	if !exclude[r.cfg.Self] {
		switch why := r.cfg.Local.Refusal(j.Spec); {
		case why == "":
			bids = append(bids, Bid{Node: r.cfg.Self, Bid: r.cfg.Local.Bid(j.ID, j.Spec)})
		case runner:
			cannot = append(cannot, why)
		}
	}
	if r.connected() && len(excluded) < 64 {
		expected := 0
		for _, p := range r.LivePeers() {
			if p.ID == r.cfg.Self || !job.Matches(j.Spec.Selector, p.Labels) {
				continue
			}
			labelled = true
			if slices.Contains(p.Engines, j.Spec.Engine) {
				runner = true
				if exclude[p.ID] {
					continue
				}
				if r := PeerRefusal(j.Spec, p.ID.String(), p.Capacity); r != "" {
					cannot = append(cannot, r) // it will not bid
					continue
				}
				expected++
			}
		}
		ann := &jobproto.JobAnnouncement{JobID: j.ID, Spec: j.Spec, Requester: r.cfg.Self, Selector: j.Spec.Selector, Exclude: excluded}
		if err := r.net.Announce(r.ctx, ann); err != nil {
			r.log.Warn("announce job", "job", j.ID, "err", err)
			expected = 0
		}
		timer := time.NewTimer(r.cfg.BidWindow)
		defer timer.Stop()
	collect:
		for remote := 0; remote < expected; {
			select {
			case b := <-ch:
				if exclude[b.Node] || slices.ContainsFunc(bids, func(x Bid) bool { return x.Node == b.Node }) {
					continue
				}
				bids = append(bids, b)
				remote++
			case <-timer.C:
				break collect
			case <-r.ctx.Done():
				return 0, "node shutting down"
			}
		}
	drain:
		for {
			select {
			case b := <-ch:
				if !exclude[b.Node] && !slices.ContainsFunc(bids, func(x Bid) bool { return x.Node == b.Node }) {
					bids = append(bids, b)
				}
			default:
				break drain
			}
		}
	}
	if len(bids) == 0 {
		why := "no node can run it"
		switch {
		case !r.cfg.Local.Runs(j.Spec.Engine) && !r.peerRuns(j.Spec.Engine):
			why = NoEngineReason(j.Spec.Engine)
		case len(cannot) > 0:
			why += ": " + strings.Join(cannot, "; ")
		case len(j.Spec.Selector) > 0 && !labelled:
			why = "no node has the labels " + job.FormatLabels(j.Spec.Selector)
		case len(j.Spec.Selector) > 0 && !runner:
			why = fmt.Sprintf("no node with the labels %s offers the %s engine", job.FormatLabels(j.Spec.Selector), j.Spec.Engine)
		case !runner:
			why = fmt.Sprintf("no live node offers the %s engine", j.Spec.Engine)
		}
		if len(excluded) > 0 {
			why += fmt.Sprintf(" (besides the %d that ran it already)", len(excluded))
		}
		return 0, why
	}
	Rank(bids, r.cfg.Self, j.Spec.EffectiveMemory())
	got := 0
	var refusals []string
	for _, b := range bids {
		if got == need {
			break
		}
		if err := r.acceptOn(j.ID, j.Spec, b.Node); err != nil {
			if errors.Is(err, errGivenUp) {
				return got, "job ended"
			}
			refusals = append(refusals, err.Error())
			continue
		}
		got++
	}
	why := fmt.Sprintf("only %d node(s) bid", len(bids))
	if len(refusals) > 0 {
		why += "; " + strings.Join(refusals, "; ")
	}
	return got, why
}

// acceptOn records an execution of the job on node and hands it over. If the node does
// not take it, the execution is marked lost at once.
func (r *Requester) acceptOn(jobID string, spec job.Spec, node peer.ID) error {
	var execID string
	_, err := r.update(jobID, func(j *job.Job) error {
		if j.State.Terminal() {
			return errGivenUp
		}
		now := r.now()
		execID = ExecutionID(j.ID, len(j.Executions)+1)
		j.Executions = append(j.Executions, job.Execution{ID: execID, NodeID: node.String(), State: job.StatePending, StartedAt: now})
		j.Log(now, "", "accepted the bid of node "+node.String())
		return nil
	})
	if err != nil {
		return err
	}
	if node == r.cfg.Self {
		err = r.cfg.Local.Enqueue(jobID, execID, spec, r.cfg.Self)
	} else {
		ctx, cancel := context.WithTimeout(r.ctx, acceptTimout)
		err = r.net.Accept(ctx, node, &jobproto.Accept{JobID: jobID, ExecutionID: execID, Spec: spec})
		cancel()
	}
	if err != nil {
		err = fmt.Errorf("node %s did not take the job: %v", node, err)
		r.markLost(jobID, map[string]string{execID: err.Error()})
		return err
	}
	return nil
}

// markLost gives executions up (execution ID -> reason) so that the drive loop
// schedules the job again.
func (r *Requester) markLost(jobID string, reasons map[string]string) {
	_, err := r.update(jobID, func(j *job.Job) error {
		now := r.now()
		changed := false
		for i := range j.Executions {
			e := &j.Executions[i]
			why, ok := reasons[e.ID]
			if !ok || e.Lost || e.State.Terminal() {
				continue
			}
			e.State, e.EndedAt, e.Error, e.Lost = job.StateFailed, now, why, true
			j.Log(now, "", fmt.Sprintf("execution %s given up: %s", e.ID, why))
			changed = true
		}
		if !changed {
			return ErrUnchanged
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrUnchanged) {
		r.log.Warn("give up execution", "job", jobID, "err", err)
	}
}

// checkLive gives up the executions whose nodes went silent for the grace period, or
// that ran past the job's timeout plus the grace period. It reports whether it did.
func (r *Requester) checkLive(j *job.Job) bool {
	if r.net == nil {
		return false
	}
	now, grace := r.now(), r.grace()
	reasons := map[string]string{}
	for _, e := range j.Executions {
		if e.Lost || e.State.Terminal() || e.NodeID == r.id {
			continue
		}
		p, err := peer.Decode(e.NodeID)
		if err != nil {
			reasons[e.ID] = "unknown node"
			continue
		}
		last, _ := r.peers.lastSeen(p)
		if last.Before(e.StartedAt) {
			last = e.StartedAt
		}
		// A node keeps no executions across a restart. A running execution's start is
		// in the node's clock, as is its process start; a pending one's is in this
		// node's clock, as is the moment this node saw the restart.
		started, restarted := r.peers.restarts(p)
		switch {
		case e.State == job.StateRunning && started.After(e.StartedAt),
			e.State != job.StateRunning && restarted.After(e.StartedAt):
			reasons[e.ID] = fmt.Sprintf("node %s restarted", p)
		case now.Sub(last) > grace:
			reasons[e.ID] = fmt.Sprintf("node %s silent for %s", p, now.Sub(last).Round(time.Millisecond))
		case e.State == job.StateRunning && now.Sub(e.StartedAt) > time.Duration(j.Spec.Timeout)+grace:
			reasons[e.ID] = fmt.Sprintf("no result from node %s within the timeout", p)
		}
	}
	if len(reasons) == 0 {
		return false
	}
	r.markLost(j.ID, reasons)
	for execID := range reasons { // best effort: a node behind a partition may still run it
		for _, e := range j.Executions {
			if e.ID == execID {
				r.cancelRemote(j.ID, e)
			}
		}
	}
	return true
}

// Apply records what a compute node (from) reports about an execution of a job this
// node owns, and settles the job when enough executions have ended. An update of an
// execution the requester no longer waits for is dht.ErrGivenUp; one that changes
// nothing is ErrUnchanged.
func (r *Requester) Apply(from peer.ID, u *jobproto.ExecutionUpdate) error {
	_, err := r.update(u.JobID, func(j *job.Job) error {
		if j.Requester != r.id {
			return fmt.Errorf("job %s is not this node's to update", j.ID)
		}
		var e *job.Execution
		for i := range j.Executions {
			if j.Executions[i].ID == u.ExecutionID {
				e = &j.Executions[i]
			}
		}
		switch {
		case e == nil:
			return fmt.Errorf("%w: no execution %s", errGivenUp, u.ExecutionID)
		case e.NodeID != from.String():
			return fmt.Errorf("execution %s belongs to another node", e.ID)
		case e.Lost || e.State.Terminal() || j.State.Terminal():
			return fmt.Errorf("%w: %s", errGivenUp, e.ID)
		}
		now := r.now()
		in := u.Execution
		if in.State == job.StatePending { // a step before it runs: fetching
			if e.State != job.StatePending || in.Phase == "" {
				return ErrUnchanged
			}
			e.Phase = in.Phase
			if u.Note != "" {
				j.Log(now, "", "node "+from.String()+" "+u.Note)
			}
			return nil
		}
		if in.State == job.StateRunning {
			e.State, e.Phase = job.StateRunning, ""
			if !in.StartedAt.IsZero() {
				e.StartedAt = in.StartedAt
			}
			if j.State == job.StatePending {
				return j.Transition(job.StateRunning, "running on node "+e.NodeID, now)
			}
			others := 0
			for _, o := range j.Executions {
				if o.ID != e.ID && !o.Lost && !o.State.Terminal() {
					others++
				}
			}
			if others > 0 {
				j.Log(now, "", "also running on node "+e.NodeID)
			} else {
				j.Log(now, "", "running again, on node "+e.NodeID)
			}
			return nil
		}
		id, node := e.ID, e.NodeID
		*e = in
		e.ID, e.NodeID = id, node
		if e.EndedAt.IsZero() {
			e.EndedAt = now
		}
		if e.State == job.StateCancelled { // the node stopped it on its own: run it elsewhere
			e.State, e.Lost = job.StateFailed, true
			if e.Error == "" {
				e.Error = "stopped by its node"
			}
		}
		msg := fmt.Sprintf("execution %s on node %s %s", e.ID, e.NodeID, e.State)
		if e.ResultCID.Defined() {
			msg += ", result " + e.ResultCID.String()
		}
		if e.Error != "" {
			msg += ": " + e.Error
		}
		j.Log(now, "", msg)
		return Settle(j, now)
	})
	return err
}

// cancelOwned cancels a job this node owns and stops its executions.
func (r *Requester) cancelOwned(id string) (*job.Job, error) {
	var stop []job.Execution
	j, err := r.update(id, func(j *job.Job) error {
		stop = stop[:0]
		now := r.now()
		if err := j.Transition(job.StateCancelled, job.ReasonCancelled, now); err != nil {
			return err
		}
		for i := range j.Executions {
			e := &j.Executions[i]
			if !e.Lost && !e.State.Terminal() {
				e.State, e.EndedAt, e.Error = job.StateCancelled, now, job.ReasonCancelled
				stop = append(stop, *e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, e := range stop {
		if e.NodeID == r.id {
			r.cfg.Local.Stop(e.ID)
			continue
		}
		r.cancelRemote(id, e)
	}
	return j, nil
}

// cancelRemote asks the node of an execution to stop it, in the background.
func (r *Requester) cancelRemote(jobID string, e job.Execution) {
	p, err := peer.Decode(e.NodeID)
	if err != nil || r.net == nil {
		return
	}
	r.goTrack(func() {
		ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
		defer cancel()
		_ = r.net.Cancel(ctx, p, &jobproto.Cancel{JobID: jobID, ExecutionID: e.ID})
	})
}

func (r *Requester) grace() time.Duration { return r.cfg.Grace }

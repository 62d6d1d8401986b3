package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/compute"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/requester"
)

// The requester side: every job submitted to this node is driven by one goroutine that
// announces it, collects bids, accepts the best, watches the executions' nodes, gives
// up on silent ones and schedules again, and settles the job when enough executions
// have ended (comparing their result CIDs when the job asks for verification).

// errGivenUp answers an update for an execution the requester no longer waits for. It
// is dht.ErrGivenUp, whose code crosses the stream to the compute node; its text keeps
// "execution given up", which compute nodes before codes look for.
var errGivenUp = fmt.Errorf("%w by the requester", dht.ErrGivenUp)

// Timing of the drive loop.
const (
	driveTick    = 250 * time.Millisecond
	retryMin     = 500 * time.Millisecond
	retryMax     = 10 * time.Second
	acceptTimout = 5 * time.Second
)

// startDrive starts the drive loop of a job this node owns, unless one runs already.
func (n *Node) startDrive(id string) {
	if _, loaded := n.driving.LoadOrStore(id, struct{}{}); loaded {
		return
	}
	if !n.goTrack(func() {
		defer n.driving.Delete(id)
		n.drive(id)
	}) {
		n.driving.Delete(id)
	}
}

func (n *Node) drive(id string) {
	sub := n.watch.subscribe(id)
	defer n.watch.unsubscribe(id, sub)
	tick := time.NewTicker(driveTick)
	defer tick.Stop()
	backoff := retryMin
	var retryAt time.Time
	why := "" // why the last round found too few nodes
	for {
		if n.ctx.Err() != nil {
			return
		}
		j, err := n.jobs.Get(id)
		if err != nil || j.State.Terminal() {
			return
		}
		if n.checkLive(j) {
			continue
		}
		live, done := requester.Tally(j)
		need := requester.Wanted(j) - live - done
		// A change that cannot be written (a full disk) is tried again at the next
		// tick, not at once: the loop must not spin on a failing store.
		stuck := false
		if live == 0 && j.QueueTime(n.now()) >= j.Spec.EffectiveQueueTimeout() {
			if stuck = n.queueTimedOut(id) != nil; !stuck {
				continue
			}
		}
		if !stuck && need > 0 && live == 0 && j.State == job.StateRunning && why != "" {
			// Nothing runs it any more (its executions ended or were given up) and the
			// last round found too few nodes: it waits for nodes, so it is pending.
			if stuck = n.waiting(id, need, why) != nil; !stuck {
				continue
			}
		}
		if !stuck && need > 0 && !time.Now().Before(retryAt) {
			got, reason := n.scheduleRound(j, need)
			if got < need {
				why = reason
				n.waiting(id, need-got, why)
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
		if need > 0 || stuck || requester.RemoteLive(j, n.id) {
			tc = tick.C
		}
		select {
		case <-sub:
		case <-tc:
		case <-n.ctx.Done():
			return
		}
	}
}

// waiting records, once per distinct reason, why a job is still pending. A running job
// with no execution under way any more goes back to pending with the reason.
// It returns an error only when the change could not be written.
func (n *Node) waiting(id string, missing int, why string) error {
	msg := waitingPrefix + fmt.Sprintf("%d more node(s): %s", missing, why)
	_, err := n.update(id, func(j *job.Job) error {
		if j.State.Terminal() {
			return errGivenUp
		}
		live, _ := requester.Tally(j)
		if j.State == job.StateRunning && live == 0 {
			return j.Transition(job.StatePending, msg, n.now())
		}
		if h := j.History[len(j.History)-1]; h.Message == msg {
			return errUnchanged
		}
		j.Log(n.now(), "", msg)
		return nil
	})
	if err != nil && !errors.Is(err, errUnchanged) && !errors.Is(err, errGivenUp) {
		n.log.Warn("record why a job waits", "job", id, "err", err)
		return err
	}
	return nil
}

// waitingPrefix starts the history messages of waiting.
const waitingPrefix = "waiting for "

// queueTimedOut fails a job that waited for nodes longer than its queue timeout, with
// the last reason it waited for.
func (n *Node) queueTimedOut(id string) error {
	_, err := n.update(id, func(j *job.Job) error {
		if live, _ := requester.Tally(j); j.State.Terminal() || live > 0 {
			return errUnchanged
		}
		limit := j.Spec.EffectiveQueueTimeout()
		reason := "no node took the job within " + limit.String()
		for i := len(j.History) - 1; i >= 0; i-- {
			if m := j.History[i].Message; strings.HasPrefix(m, waitingPrefix) {
				reason += ": " + m
				break
			}
		}
		return j.Transition(job.StateFailed, reason, n.now())
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		n.log.Warn("queue timeout", "job", id, "err", err)
		return err
	}
	return nil
}

var errUnchanged = errors.New("unchanged")

// scheduleRound announces the job, collects bids for up to the bid window (less when
// every live node that could bid has), and accepts the best need of them.
func (n *Node) scheduleRound(j *job.Job, need int) (int, string) {
	exclude := map[peer.ID]bool{}
	var excluded []peer.ID
	for _, e := range j.Executions {
		if p, err := peer.Decode(e.NodeID); err == nil && !exclude[p] {
			exclude[p] = true
			excluded = append(excluded, p)
		}
	}
	ch := make(chan requester.Bid, 64)
	n.bidMu.Lock()
	n.bids[j.ID] = ch
	n.bidMu.Unlock()
	defer func() {
		n.bidMu.Lock()
		delete(n.bids, j.ID)
		n.bidMu.Unlock()
	}()

	var bids []requester.Bid
	// Why the nodes whose labels match cannot run the job (too little memory, ...).
	var cannot []string
	labelled := false
	if !exclude[n.peerID] {
		switch r := n.compute.Refusal(j.Spec); {
		case r == "":
			labelled = true
			bids = append(bids, requester.Bid{Node: n.peerID, Bid: n.compute.Bid(j.ID, j.Spec)})
		case job.Matches(j.Spec.Selector, n.cfg.Labels) && n.runs(j.Spec.Engine):
			labelled = true
			cannot = append(cannot, r)
		}
	}
	if n.connected() && len(excluded) < 64 {
		expected := 0
		for _, p := range n.peers.live(n.now(), n.grace()) {
			if p.ID != n.peerID && !exclude[p.ID] && job.Matches(j.Spec.Selector, p.Labels) && slices.Contains(p.Engines, j.Spec.Engine) {
				labelled = true
				if r := requester.PeerRefusal(j.Spec, p.ID.String(), p.Capacity); r != "" {
					cannot = append(cannot, r) // it will not bid
					continue
				}
				expected++
			}
		}
		ann := &jobproto.JobAnnouncement{JobID: j.ID, Spec: j.Spec, Requester: n.peerID, Selector: j.Spec.Selector, Exclude: excluded}
		if err := n.net.Publish(n.ctx, jobproto.TopicJobs, ann); err != nil {
			n.log.Warn("announce job", "job", j.ID, "err", err)
			expected = 0
		}
		timer := time.NewTimer(n.cfg.Network.BidWindow)
		defer timer.Stop()
	collect:
		for remote := 0; remote < expected; {
			select {
			case b := <-ch:
				if exclude[b.Node] || slices.ContainsFunc(bids, func(x requester.Bid) bool { return x.Node == b.Node }) {
					continue
				}
				bids = append(bids, b)
				remote++
			case <-timer.C:
				break collect
			case <-n.ctx.Done():
				return 0, "node shutting down"
			}
		}
	drain:
		for {
			select {
			case b := <-ch:
				if !exclude[b.Node] && !slices.ContainsFunc(bids, func(x requester.Bid) bool { return x.Node == b.Node }) {
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
		case len(cannot) > 0:
			why += ": " + strings.Join(cannot, "; ")
		case len(j.Spec.Selector) > 0 && !labelled:
			why = "no node has the labels " + job.FormatLabels(j.Spec.Selector)
		}
		if len(excluded) > 0 {
			why += fmt.Sprintf(" (besides the %d that ran it already)", len(excluded))
		}
		return 0, why
	}
	requester.Rank(bids, n.peerID, j.Spec.EffectiveMemory())
	got := 0
	var refusals []string
	for _, b := range bids {
		if got == need {
			break
		}
		if err := n.acceptOn(j.ID, j.Spec, b.Node); err != nil {
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
func (n *Node) acceptOn(jobID string, spec job.Spec, node peer.ID) error {
	var execID string
	_, err := n.update(jobID, func(j *job.Job) error {
		if j.State.Terminal() {
			return errGivenUp
		}
		now := n.now()
		execID = executionID(j.ID, len(j.Executions)+1)
		j.Executions = append(j.Executions, job.Execution{ID: execID, NodeID: node.String(), State: job.StatePending, StartedAt: now})
		j.Log(now, "", "accepted the bid of node "+node.String())
		return nil
	})
	if err != nil {
		return err
	}
	if node == n.peerID {
		err = n.compute.Enqueue(jobID, execID, spec, n.peerID)
	} else {
		ctx, cancel := context.WithTimeout(n.ctx, acceptTimout)
		_, err = jobproto.Request[jobproto.Accept, jobproto.Ack](ctx, n.net, node, jobproto.ProtoAccept, &jobproto.Accept{JobID: jobID, ExecutionID: execID, Spec: spec})
		cancel()
	}
	if err != nil {
		err = fmt.Errorf("node %s did not take the job: %v", node, err)
		n.markLost(jobID, map[string]string{execID: err.Error()})
		return err
	}
	return nil
}

// markLost gives executions up (execution ID -> reason) so that the drive loop
// schedules the job again.
func (n *Node) markLost(jobID string, reasons map[string]string) {
	_, err := n.update(jobID, func(j *job.Job) error {
		now := n.now()
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
			return errUnchanged
		}
		return nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		n.log.Warn("give up execution", "job", jobID, "err", err)
	}
}

// checkLive gives up the executions whose nodes went silent for the grace period, or
// that ran past the job's timeout plus the grace period. It reports whether it did.
func (n *Node) checkLive(j *job.Job) bool {
	if n.net == nil {
		return false
	}
	now, grace := n.now(), n.grace()
	reasons := map[string]string{}
	for _, e := range j.Executions {
		if e.Lost || e.State.Terminal() || e.NodeID == n.id {
			continue
		}
		p, err := peer.Decode(e.NodeID)
		if err != nil {
			reasons[e.ID] = "unknown node"
			continue
		}
		last, _ := n.peers.lastSeen(p)
		if last.Before(e.StartedAt) {
			last = e.StartedAt
		}
		// A node keeps no executions across a restart. A running execution's start is
		// in the node's clock, as is its process start; a pending one's is in this
		// node's clock, as is the moment this node saw the restart.
		started, restarted := n.peers.restarts(p)
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
	n.markLost(j.ID, reasons)
	for execID := range reasons { // best effort: a node behind a partition may still run it
		for _, e := range j.Executions {
			if e.ID == execID {
				n.cancelRemote(j.ID, e)
			}
		}
	}
	return true
}

// applyUpdate records what a compute node reports about an execution of a job this node
// owns, and settles the job when enough executions have ended.
func (n *Node) applyUpdate(from peer.ID, u *jobproto.ExecutionUpdate) error {
	_, err := n.update(u.JobID, func(j *job.Job) error {
		if j.Requester != n.id {
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
		now := n.now()
		in := u.Execution
		if in.State == job.StatePending { // a step before it runs: fetching
			if e.State != job.StatePending || in.Phase == "" {
				return errUnchanged
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
		if e.ResultCID != "" {
			msg += ", result " + e.ResultCID
		}
		if e.Error != "" {
			msg += ": " + e.Error
		}
		j.Log(now, "", msg)
		return requester.Settle(j, now)
	})
	return err
}

// report tells the requester how an execution goes. It returns false when the requester
// has given the execution up (the worker then stops). A terminal report to another node
// is retried in the background until it is taken or refused.
func (n *Node) report(t *compute.Assignment, e job.Execution) bool {
	u := &jobproto.ExecutionUpdate{JobID: t.JobID, ExecutionID: t.ExecID, Execution: e}
	if t.Requester == n.peerID || !e.State.Terminal() {
		return n.sendUpdate(t, u)
	}
	send := func() error { return n.sendRemote(t, u) }
	n.goTrack(func() {
		wait := 250 * time.Millisecond
		deadline := time.Now().Add(reportPatience)
		for {
			err := send()
			if err == nil || errors.Is(err, dht.ErrGivenUp) || time.Now().After(deadline) {
				if err != nil {
					n.log.Warn("report execution", "job", t.JobID, "execution", t.ExecID, "err", err)
				}
				return
			}
			select {
			case <-time.After(wait):
				wait = min(2*wait, 10*time.Second)
			case <-n.ctx.Done():
				return
			}
		}
	})
	return true
}

// sendUpdate delivers an update to the requester once (applies it, for this node's own
// jobs). It returns false when the requester has given the execution up.
func (n *Node) sendUpdate(t *compute.Assignment, u *jobproto.ExecutionUpdate) bool {
	if t.Requester == n.peerID {
		err := n.applyUpdate(n.peerID, u)
		if err != nil && !errors.Is(err, errGivenUp) && !errors.Is(err, errUnchanged) {
			n.log.Error("record execution", "job", t.JobID, "execution", t.ExecID, "err", err)
		}
		return !errors.Is(err, errGivenUp)
	}
	err := n.sendRemote(t, u)
	return !errors.Is(err, dht.ErrGivenUp)
}

func (n *Node) sendRemote(t *compute.Assignment, u *jobproto.ExecutionUpdate) error {
	ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
	defer cancel()
	_, err := jobproto.Request[jobproto.ExecutionUpdate, jobproto.Ack](ctx, n.net, t.Requester, jobproto.ProtoUpdate, u)
	return err
}

// reportPatience is how long a compute node keeps trying to deliver a result.
const reportPatience = 10 * time.Minute

// cancelOwned cancels a job this node owns and stops its executions.
func (n *Node) cancelOwned(id string) (*job.Job, error) {
	var stop []job.Execution
	j, err := n.update(id, func(j *job.Job) error {
		stop = stop[:0]
		now := n.now()
		if err := j.Transition(job.StateCancelled, compute.ReasonCancelled, now); err != nil {
			return err
		}
		for i := range j.Executions {
			e := &j.Executions[i]
			if !e.Lost && !e.State.Terminal() {
				e.State, e.EndedAt, e.Error = job.StateCancelled, now, compute.ReasonCancelled
				stop = append(stop, *e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, e := range stop {
		if e.NodeID == n.id {
			if t, ok := n.compute.Assignment(e.ID); ok {
				t.Cancel()
			}
			continue
		}
		n.cancelRemote(id, e)
	}
	return j, nil
}

// cancelRemote asks the node of an execution to stop it, in the background.
func (n *Node) cancelRemote(jobID string, e job.Execution) {
	p, err := peer.Decode(e.NodeID)
	if err != nil || n.net == nil {
		return
	}
	n.goTrack(func() {
		ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
		defer cancel()
		_, _ = jobproto.Request[jobproto.Cancel, jobproto.Ack](ctx, n.net, p, jobproto.ProtoCancel, &jobproto.Cancel{JobID: jobID, ExecutionID: e.ID})
	})
}

func (n *Node) grace() time.Duration {
	if n.cfg.Network == nil {
		return 0
	}
	return n.cfg.Network.Grace
}

package requester

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// The shared view: every node keeps a copy of every job it hears of, pulled from the
// job's requester (the one writer of its record) when an event says the copy is stale,
// or for all of a requester's changes when it is heard again after a silence.

// OnBid hands a bid to the scheduling round of its job; false if no round is under
// way (it is over) or the round has all the bids it can hold.
func (r *Requester) OnBid(from peer.ID, b *jobproto.Bid) bool {
	r.bidMu.Lock()
	ch := r.bids[b.JobID]
	r.bidMu.Unlock()
	if ch == nil {
		return false // the round is over
	}
	select {
	case ch <- Bid{Node: from, Bid: *b}:
		return true
	default:
		return false
	}
}

// OnCancel cancels a job this node owns, as another node asked.
func (r *Requester) OnCancel(jobID string) error {
	j, err := r.jobs.Get(jobID)
	if err != nil {
		return err
	}
	if j.Requester != r.id {
		return errors.New("this node is not the job's requester")
	}
	_, err = r.cancelOwned(jobID)
	return err
}

// OnHeartbeat records a peer's heartbeat; a peer new or back after a silence (a
// restart, a healed partition) is caught up with: this node pulls the jobs it owns.
func (r *Requester) OnHeartbeat(hb *jobproto.Heartbeat) {
	if hb.Node == r.cfg.Self {
		return
	}
	if r.peers.saw(hb, r.now(), 3*r.cfg.Heartbeat) && r.net != nil {
		r.goTrack(func() { r.catchUp(hb.Node) })
	}
}

// Peers returns every node heard from, in no order.
func (r *Requester) Peers() []Peer { return r.peers.all() }

// LivePeers returns the nodes heard from within the grace period.
func (r *Requester) LivePeers() []Peer { return r.peers.live(r.now(), r.grace()) }

// maxPullBytes keeps a JobRecords answer under jobproto.MaxJobPullSize.
const maxPullBytes = jobproto.MaxJobPullSize * 3 / 4

// OnPull answers a peer's pull of this node's job records: those named, or those
// changed since a mark, within the size of one answer.
func (r *Requester) OnPull(p *jobproto.JobPull) *jobproto.JobRecords {
	ids := p.IDs
	more := false
	if len(ids) == 0 {
		ids, _, more = r.jobs.UpdatedSince(r.id, time.Unix(0, p.Since), p.After, jobproto.MaxPullJobs)
	}
	out := &jobproto.JobRecords{More: more}
	size := 0
	for _, id := range ids {
		j, err := r.jobs.Get(id)
		if err != nil || j.Requester != r.id {
			continue
		}
		b, err := json.Marshal(j)
		if err != nil {
			continue
		}
		if size+len(b) > maxPullBytes {
			out.More = true
			break
		}
		size += len(b)
		out.Jobs = append(out.Jobs, b)
	}
	return out
}

// OnEvent pulls a job record from its requester when the event (from a peer) says it
// is newer than this node's copy.
func (r *Requester) OnEvent(ev *jobproto.JobEvent) {
	if r.net == nil || ev.Node == r.cfg.Self || r.jobs.Rev(ev.JobID) >= ev.Rev {
		return
	}
	r.pullMu.Lock()
	if _, busy := r.pulling[ev.JobID]; busy {
		r.pulling[ev.JobID] = ev.Node // pull once more when the current pull ends
		r.pullMu.Unlock()
		return
	}
	r.pulling[ev.JobID] = ""
	r.pullMu.Unlock()
	r.goTrack(func() {
		from := ev.Node
		for {
			r.pullIDs(from, []string{ev.JobID})
			r.pullMu.Lock()
			again := r.pulling[ev.JobID]
			if again == "" {
				delete(r.pulling, ev.JobID)
				r.pullMu.Unlock()
				return
			}
			r.pulling[ev.JobID] = ""
			r.pullMu.Unlock()
			from = again
		}
	})
}

func (r *Requester) pullIDs(from peer.ID, ids []string) {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	recs, err := r.net.Pull(ctx, from, &jobproto.JobPull{IDs: ids})
	if err != nil {
		r.log.Debug("pull job", "from", from, "err", err)
		return
	}
	r.storeCopies(from, recs)
}

// catchUp pulls every job record from owns that changed since the last catch-up.
func (r *Requester) catchUp(from peer.ID) {
	r.pullMu.Lock()
	mark := r.marks[from]
	r.pullMu.Unlock()
	for r.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
		recs, err := r.net.Pull(ctx, from, &jobproto.JobPull{Since: mark.since.UnixNano(), After: mark.after})
		cancel()
		if err != nil {
			r.log.Debug("catch up", "from", from, "err", err)
			return
		}
		last := r.storeCopies(from, recs)
		if last != nil {
			mark = pullMark{since: last.UpdatedAt, after: last.ID}
			r.pullMu.Lock()
			r.marks[from] = mark
			r.pullMu.Unlock()
		}
		if !recs.More || last == nil {
			return
		}
	}
}

// pullMark is how far a catch-up from one requester got.
type pullMark struct {
	since time.Time
	after string
}

// storeCopies stores the valid records of jobs from owns and returns the last one.
func (r *Requester) storeCopies(from peer.ID, recs *jobproto.JobRecords) *job.Job {
	var last *job.Job
	for _, b := range recs.Jobs {
		j, err := jobproto.DecodeJob(b, from)
		if err != nil {
			r.log.Warn("job record refused", "from", from, "err", err)
			continue
		}
		last = j
		if j.Requester == r.id {
			continue
		}
		if wrote, err := r.jobs.Put(j); err != nil {
			r.log.Error("store job copy", "job", j.ID, "err", err)
		} else if wrote {
			r.watch.publish(j.ID)
		}
	}
	return last
}

// publishEvent tells the network that a job this node owns changed.
func (r *Requester) publishEvent(j *job.Job) {
	if !r.connected() {
		return // nobody to tell: a node that connects later catches up by pulling
	}
	ev := &jobproto.JobEvent{JobID: j.ID, State: j.State, Time: j.UpdatedAt, Node: r.cfg.Self, Rev: j.Rev, Reason: TruncateText(j.Reason, 1000)}
	if e := j.Reported(); e != nil && j.State == job.StateCompleted {
		ev.ResultCID = e.ResultCID
	}
	if err := r.net.Event(r.ctx, ev); err != nil && r.ctx.Err() == nil {
		r.log.Debug("publish job event", "job", j.ID, "err", err)
	}
}

// TruncateText cuts s to at most max bytes, at a boundary between UTF-8 characters.
func TruncateText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && s[max]&0xc0 == 0x80 {
		max--
	}
	return s[:max]
}

package blockstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ipfs/go-cid"
)

// Pin kinds the node uses; any other non-empty kind is allowed.
const (
	// PinData pins what a user added (`data add`, `car import`).
	PinData = "data"
	// PinResult pins a job's result; Label is the job ID.
	PinResult = "result"
)

const (
	maxPinKind  = 64
	maxPinLabel = 256
)

// PinInfo describes a pin. A pin is named by its root, Kind and Label:
// pinning the same root under another kind or label adds a pin, pinning it
// under the same ones replaces the pin (its expiry).
type PinInfo struct {
	// Kind says what the pin is for (PinData, PinResult...): 1 to 64 bytes,
	// no NUL.
	Kind string
	// Label tells pins of one kind apart (e.g. a job ID): at most 256
	// bytes, no NUL.
	Label string
	// Expires, if not zero, is when the pin stops protecting its DAG: the
	// first GC after it removes the pin.
	Expires time.Time
	// Created is when the pin was made; Pin sets it.
	Created time.Time
}

// Pinned is one pin: a root and its PinInfo.
type Pinned struct {
	Root cid.Cid
	PinInfo
}

var pinPrefix = []byte("/pins/")

// pinKey is pinPrefix, the root's CID bytes with a uvarint length before
// them, the kind, a NUL and the label.
func pinKey(root cid.Cid, kind, label string) []byte {
	cb := root.Bytes()
	k := make([]byte, 0, len(pinPrefix)+binary.MaxVarintLen64+len(cb)+len(kind)+1+len(label))
	k = append(k, pinPrefix...)
	k = binary.AppendUvarint(k, uint64(len(cb)))
	k = append(k, cb...)
	k = append(k, kind...)
	k = append(k, 0)
	return append(k, label...)
}

// pinRecordVersion starts every pin value: version, then varints of the
// creation and expiry times in Unix nanoseconds (0: never expires).
const pinRecordVersion = 1

func encodePinValue(created, expires time.Time) []byte {
	v := []byte{pinRecordVersion}
	v = binary.AppendVarint(v, created.UnixNano())
	var e int64
	if !expires.IsZero() {
		e = expires.UnixNano()
	}
	return binary.AppendVarint(v, e)
}

var errBadPin = errors.New("blockstore: corrupt pin record")

// decodePin parses a pin's key and value as stored in pebble.
func decodePin(key, val []byte) (Pinned, error) {
	rest, ok := bytes.CutPrefix(key, pinPrefix)
	if !ok {
		return Pinned{}, fmt.Errorf("%w: key prefix", errBadPin)
	}
	n, w := binary.Uvarint(rest)
	if w <= 0 || n == 0 || n > uint64(len(rest)-w) {
		return Pinned{}, fmt.Errorf("%w: CID length", errBadPin)
	}
	rest = rest[w:]
	cl, root, err := cid.CidFromBytes(rest[:n])
	if err != nil || uint64(cl) != n {
		return Pinned{}, fmt.Errorf("%w: CID", errBadPin)
	}
	kind, label, ok := bytes.Cut(rest[n:], []byte{0})
	p := Pinned{Root: root, PinInfo: PinInfo{Kind: string(kind), Label: string(label)}}
	if !ok || validatePinInfo(p.PinInfo) != nil {
		return Pinned{}, fmt.Errorf("%w: kind or label", errBadPin)
	}
	if len(val) == 0 || val[0] != pinRecordVersion {
		return Pinned{}, fmt.Errorf("%w: unknown version", errBadPin)
	}
	val = val[1:]
	var t [2]int64
	for i := range t {
		x, w := binary.Varint(val)
		if w <= 0 {
			return Pinned{}, fmt.Errorf("%w: times", errBadPin)
		}
		t[i], val = x, val[w:]
	}
	if len(val) != 0 || t[1] < 0 {
		return Pinned{}, fmt.Errorf("%w: trailing bytes or bad expiry", errBadPin)
	}
	p.Created = time.Unix(0, t[0])
	if t[1] != 0 {
		p.Expires = time.Unix(0, t[1])
	}
	return p, nil
}

func validatePinInfo(info PinInfo) error {
	switch {
	case info.Kind == "" || len(info.Kind) > maxPinKind || strings.IndexByte(info.Kind, 0) >= 0:
		return fmt.Errorf("%w: pin kind must be 1 to %d bytes without NUL", ErrBadOptions, maxPinKind)
	case len(info.Label) > maxPinLabel || strings.IndexByte(info.Label, 0) >= 0:
		return fmt.Errorf("%w: pin label must be at most %d bytes without NUL", ErrBadOptions, maxPinLabel)
	}
	return nil
}

// Pin keeps the DAG under root (every block reachable from it that is
// stored) from being collected, until Unpin or info.Expires. The root
// block must be stored (ErrNotFound otherwise); the rest of the DAG need
// not be complete. The pin is durable when Pin returns. Pin waits while a
// GC sweeps.
func (s *Store) Pin(ctx context.Context, root cid.Cid, info PinInfo) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !root.Defined() {
		return fmt.Errorf("%w: pin of an undefined CID", ErrBadOptions)
	}
	if err := validatePinInfo(info); err != nil {
		return err
	}
	return s.pin(root, info, s.writeOpts())
}

// pin writes the pin with opts; Pin's checks must have been made.
func (s *Store) pin(root cid.Cid, info PinInfo, opts *pebble.WriteOptions) error {
	s.pinMu.RLock()
	defer s.pinMu.RUnlock()
	if ok, err := s.has(root); err != nil {
		return fmt.Errorf("blockstore: pin %s: %w", root, mapErr(err))
	} else if !ok && root.Prefix().MhType != 0 {
		return fmt.Errorf("blockstore: pin %s: %w", root, ErrNotFound)
	}
	val := encodePinValue(time.Now(), info.Expires)
	if err := s.db.Set(pinKey(root, info.Kind, info.Label), val, opts); err != nil {
		return fmt.Errorf("blockstore: pin %s: %w", root, mapErr(err))
	}
	s.hmu.Lock()
	if g := s.gcst; g != nil {
		g.roots = append(g.roots, root)
	}
	s.hmu.Unlock()
	return nil
}

// Unpin removes the pin of root with that kind and label (ErrNotFound if
// there is none). Its DAG is collected by the next GC unless something
// else keeps it.
func (s *Store) Unpin(ctx context.Context, root cid.Cid, kind, label string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.pinMu.RLock()
	defer s.pinMu.RUnlock()
	key := pinKey(root, kind, label)
	ok, err := s.inPebble(key)
	if err != nil {
		return fmt.Errorf("blockstore: unpin %s: %w", root, err)
	}
	if !ok {
		return fmt.Errorf("blockstore: unpin %s (%s %q): %w", root, kind, label, ErrNotFound)
	}
	if err := s.db.Delete(key, s.writeOpts()); err != nil {
		return fmt.Errorf("blockstore: unpin %s: %w", root, mapErr(err))
	}
	return nil
}

// Pins lists the pins, grouped by root (in a stable order), expired ones
// included until a GC removes them. Stop the loop to stop listing.
func (s *Store) Pins(ctx context.Context) iter.Seq2[Pinned, error] {
	return func(yield func(Pinned, error) bool) {
		it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: pinPrefix, UpperBound: prefixEnd(pinPrefix)})
		if err != nil {
			yield(Pinned{}, fmt.Errorf("blockstore: pins: %w", mapErr(err)))
			return
		}
		defer it.Close()
		for ok := it.First(); ok; ok = it.Next() {
			if err := ctx.Err(); err != nil {
				yield(Pinned{}, err)
				return
			}
			p, err := decodePin(it.Key(), it.Value())
			if !yield(p, err) {
				return
			}
		}
		if err := it.Error(); err != nil {
			yield(Pinned{}, fmt.Errorf("blockstore: pins: %w", mapErr(err)))
		}
	}
}

func (s *Store) writeOpts() *pebble.WriteOptions {
	if s.noSync {
		return pebble.NoSync
	}
	return pebble.Sync
}

// prefixEnd is the smallest key after every key starting with prefix
// (prefix must not end in 0xff).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	end[len(end)-1]++
	return end
}

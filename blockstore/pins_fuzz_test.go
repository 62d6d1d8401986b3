package blockstore

import (
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// FuzzDecodePin: pin records read from pebble either decode to a pin that
// encodes back to the same pin, or fail with errBadPin; never a panic.
func FuzzDecodePin(f *testing.F) {
	h, _ := mh.Sum([]byte("pin"), mh.SHA2_256, -1)
	for _, c := range []cid.Cid{cid.NewCidV0(h), cid.NewCidV1(cid.Raw, h)} {
		f.Add(pinKey(c, PinData, ""), encodePinValue(time.Unix(1700000000, 5), time.Time{}))
		f.Add(pinKey(c, PinResult, "job-1"), encodePinValue(time.Unix(1, 0), time.Unix(2, 0)))
	}
	f.Add([]byte("/pins/"), []byte{1})
	f.Add([]byte("/pins/\x01\x00data\x00"), []byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, key, val []byte) {
		p, err := decodePin(key, val)
		if err != nil {
			if !errors.Is(err, errBadPin) {
				t.Fatalf("error %v does not wrap errBadPin", err)
			}
			return
		}
		q, err := decodePin(pinKey(p.Root, p.Kind, p.Label), encodePinValue(p.Created, p.Expires))
		if err != nil || q.Root != p.Root || q.PinInfo != p.PinInfo {
			t.Fatalf("round trip: %+v -> %+v, %v", p, q, err)
		}
	})
}

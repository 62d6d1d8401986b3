package blockstore

import (
	"github.com/ipfs/go-cid"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
)

// ParseCID reads a CID given by a user (with or without an ipfs:// or /ipfs/ prefix) into
// go-cid's type. The words of its errors are cidtext.Parse's, which the client uses to
// check the same text without linking go-cid.
func ParseCID(s string) (cid.Cid, error) {
	c, err := cidtext.Parse(s)
	if err != nil {
		return cid.Undef, err
	}
	return cid.Cast(c.Bytes())
}

package blockstore

import (
	"errors"

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
	return Key(c)
}

// Key turns a CID the job model holds, parsed already, into go-cid's type: a cast of its
// bytes, with no text to read again.
func Key(c cidtext.CID) (cid.Cid, error) {
	if !c.Defined() {
		return cid.Undef, errors.New("blockstore: no CID")
	}
	return cid.Cast(c.Bytes())
}

// JobCID turns go-cid's type into the job model's. It cannot fail: cidtext.Cast checks
// what go-cid checked when it made c; an undefined c gives the zero CID.
func JobCID(c cid.Cid) cidtext.CID {
	t, _ := cidtext.Cast(c.Bytes())
	return t
}

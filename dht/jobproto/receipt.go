package jobproto

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// ErrBadReceipt is wrapped by every receipt verification failure.
var ErrBadReceipt = errors.New("dht: bad receipt")

// SignReceipt sets r.Node to key's peer ID, r.Time if unset, and signs the receipt.
func SignReceipt(key crypto.PrivKey, r *job.Receipt, now time.Time) error {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return fmt.Errorf("%w: %v", dht.ErrIdentity, err)
	}
	r.Node = id.String()
	if r.Time.IsZero() {
		r.Time = now.UTC().Truncate(time.Millisecond)
	}
	sig, err := key.Sign(r.SigningBytes())
	if err != nil {
		return fmt.Errorf("%w: sign: %v", dht.ErrIdentity, err)
	}
	r.Signature = sig
	return nil
}

// VerifyReceipt checks that r is signed by the key behind r.Node. It needs nothing but
// the receipt: Ed25519 peer IDs embed their public key.
func VerifyReceipt(r *job.Receipt) error {
	if r == nil {
		return fmt.Errorf("%w: no receipt", ErrBadReceipt)
	}
	id, err := peer.Decode(r.Node)
	if err != nil {
		return fmt.Errorf("%w: node %q is not a peer ID: %v", ErrBadReceipt, truncate(r.Node), err)
	}
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: node %s: no public key in the peer ID: %v", ErrBadReceipt, id, err)
	}
	if len(r.Signature) == 0 {
		return fmt.Errorf("%w: unsigned", ErrBadReceipt)
	}
	ok, err := pub.Verify(r.SigningBytes(), r.Signature)
	if err != nil || !ok {
		return fmt.Errorf("%w: signature does not match node %s", ErrBadReceipt, id)
	}
	return nil
}

package dht

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// KeyFile is the name of the identity key file inside Config.Dir.
const KeyFile = "identity.key"

// LoadIdentity reads the node's identity key from dir (creating it on first start), for
// code that signs as the node without starting the network.
func LoadIdentity(dir string) (crypto.PrivKey, error) { return loadIdentity(dir) }

// loadIdentity reads the node's Ed25519 key from dir, creating it on first start. The
// file is written atomically with mode 0600; one readable by others is refused, as ssh
// refuses such keys, because whoever reads it can sign as this node.
func loadIdentity(dir string) (crypto.PrivKey, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: Dir is required: the identity key lives there", ErrConfig)
	}
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		st, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrIdentity, err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("%w: %s is accessible by others (mode %v): chmod 600 it", ErrIdentity, path, st.Mode().Perm())
		}
		k, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrIdentity, path, err)
		}
		if k.Type() != crypto.Ed25519 {
			return nil, fmt.Errorf("%w: %s holds a %v key, want Ed25519", ErrIdentity, path, k.Type())
		}
		return k, nil
	case errors.Is(err, fs.ErrNotExist):
		return createIdentity(dir, path)
	default:
		return nil, fmt.Errorf("%w: %v", ErrIdentity, err)
	}
}

func createIdentity(dir, path string) (crypto.PrivKey, error) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	b, err := crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	f, err := os.CreateTemp(dir, KeyFile+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	// Link, not rename: if another process created the key meanwhile, use that one.
	if err := os.Link(tmp, path); errors.Is(err, fs.ErrExist) {
		return loadIdentity(dir)
	} else if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	return k, nil
}

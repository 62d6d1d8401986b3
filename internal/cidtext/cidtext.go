// Package cidtext reads and prints CIDs as text for the light client. It checks what
// go-cid's Decode checks (the multibase, the version, the codec and the multihash's
// header and digest length) and prints a CID as go-cid's String does, but without
// go-cid: importing go-cid registers every hash function go-multihash knows (blake2,
// blake3 with its CPU probe, sha3, murmur3), which cost the client a sixth of the page
// faults of its start (see RATIONALE.md, "The client does not link go-cid"). The node
// turns a CID into go-cid's type with cid.Cast(c.Bytes()).
//
// Only the multibase encodings CIDs are written in are read: base32 (b, B), base58btc
// (z, and CIDv0's bare Qm... form), base36 (k, K), base16 (f, F) and base64 (m, M, u, U).
package cidtext

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Codecs and hash functions the project writes.
const (
	Raw      = 0x55
	DagPB    = 0x70
	SHA2_256 = 0x12
)

// MaxLen bounds the text of a CID: far above any real one (a CIDv1 of a 64-byte digest
// in base16 is 140 characters), low enough that garbage is refused before decoding.
const MaxLen = 512

// CID is a parsed CID: its binary form. The zero value is no CID.
type CID struct{ b string }

var base32Lower = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Parse reads a CID, with or without an ipfs:// or /ipfs/ prefix, and says in words what
// is wrong with anything else.
func Parse(s string) (CID, error) {
	raw := strings.TrimPrefix(strings.TrimPrefix(s, "ipfs://"), "/ipfs/")
	if raw == "" {
		return CID{}, errors.New("empty CID")
	}
	if len(raw) > MaxLen {
		return CID{}, fmt.Errorf("%q... is too long to be a CID", raw[:32])
	}
	c, err := decode(raw)
	if err != nil {
		return CID{}, fmt.Errorf("%q is not a valid CID: %v", s, err)
	}
	return c, nil
}

func decode(s string) (CID, error) {
	if len(s) < 2 {
		return CID{}, errors.New("cid too short")
	}
	if len(s) == 46 && s[:2] == "Qm" { // CIDv0: a bare base58btc sha2-256 multihash
		b, err := decodeBaseX(s, alphabet58)
		if err != nil {
			return CID{}, err
		}
		return Cast(b)
	}
	b, err := multibase(s)
	if err != nil {
		return CID{}, err
	}
	return Cast(b)
}

// Cast reads a CID in its binary form.
func Cast(b []byte) (CID, error) {
	if len(b) == 34 && b[0] == SHA2_256 && b[1] == 32 { // CIDv0
		return CID{string(b)}, nil
	}
	rest := b
	v, rest, err := uvarint(rest, "version")
	if err != nil {
		return CID{}, err
	}
	if v != 1 {
		return CID{}, fmt.Errorf("expected 1 as the cid version number, got: %d", v)
	}
	if _, rest, err = uvarint(rest, "codec"); err != nil {
		return CID{}, err
	}
	if _, rest, err = uvarint(rest, "multihash code"); err != nil {
		return CID{}, err
	}
	n, rest, err := uvarint(rest, "multihash length")
	if err != nil {
		return CID{}, err
	}
	if n != uint64(len(rest)) {
		return CID{}, fmt.Errorf("multihash length %d does not match its %d digest bytes", n, len(rest))
	}
	return CID{string(b)}, nil
}

func uvarint(b []byte, what string) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 || n > 9 {
		return 0, nil, fmt.Errorf("bad varint for the %s", what)
	}
	if n > 1 && b[n-1] == 0 { // go-varint refuses non-minimal encodings too
		return 0, nil, fmt.Errorf("varint for the %s not minimally encoded", what)
	}
	return v, b[n:], nil
}

func multibase(s string) ([]byte, error) {
	p, body := s[0], s[1:]
	var b []byte
	var err error
	switch p {
	case 'b':
		b, err = base32Lower.DecodeString(body)
	case 'B':
		b, err = base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(body)
	case 'z':
		b, err = decodeBaseX(body, alphabet58)
	case 'k':
		b, err = decodeBaseX(body, alphabet36)
	case 'K':
		b, err = decodeBaseX(strings.ToLower(body), alphabet36)
	case 'f', 'F':
		b, err = hex.DecodeString(body)
	case 'm':
		b, err = base64.RawStdEncoding.DecodeString(body)
	case 'M':
		b, err = base64.StdEncoding.DecodeString(body)
	case 'u':
		b, err = base64.RawURLEncoding.DecodeString(body)
	case 'U':
		b, err = base64.URLEncoding.DecodeString(body)
	default:
		return nil, fmt.Errorf("selected encoding not supported (multibase prefix %q)", p)
	}
	if err != nil {
		return nil, fmt.Errorf("bad multibase text: %v", err)
	}
	return b, nil
}

const (
	alphabet58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	alphabet36 = "0123456789abcdefghijklmnopqrstuvwxyz"
)

// decodeBaseX decodes s in the base of alphabet, the leading zero digits standing for
// leading zero bytes (base58btc's and multibase base36's convention).
func decodeBaseX(s, alphabet string) ([]byte, error) {
	base := uint32(len(alphabet))
	zeros := 0
	for zeros < len(s) && s[zeros] == alphabet[0] {
		zeros++
	}
	out := make([]byte, 0, len(s)) // little-endian digits of the number in base 256
	for i := zeros; i < len(s); i++ {
		d := strings.IndexByte(alphabet, s[i])
		if d < 0 {
			return nil, fmt.Errorf("invalid character %q", s[i])
		}
		carry := uint32(d)
		for j := range out {
			carry += uint32(out[j]) * base
			out[j] = byte(carry)
			carry >>= 8
		}
		for carry > 0 {
			out = append(out, byte(carry))
			carry >>= 8
		}
	}
	b := make([]byte, zeros+len(out))
	for i := range out {
		b[len(b)-1-i] = out[i]
	}
	return b, nil
}

// V1 returns the CIDv1 of codec over a sha2-256 digest.
func V1(codec uint64, sha256 []byte) CID {
	b := binary.AppendUvarint(nil, 1)
	b = binary.AppendUvarint(b, codec)
	b = append(b, SHA2_256, byte(len(sha256)))
	return CID{string(append(b, sha256...))}
}

// Defined says whether c is a CID (not the zero value).
func (c CID) Defined() bool { return c.b != "" }

// Bytes returns c's binary form.
func (c CID) Bytes() []byte { return []byte(c.b) }

// Version returns 0 or 1.
func (c CID) Version() uint64 {
	if len(c.b) == 34 && c.b[0] == SHA2_256 && c.b[1] == 32 {
		return 0
	}
	return 1
}

// String prints c as go-cid does: base58btc for CIDv0, base32 (prefix b) for CIDv1.
func (c CID) String() string {
	if c.b == "" {
		return ""
	}
	if c.Version() == 0 {
		return encodeBase58([]byte(c.b))
	}
	return "b" + base32Lower.EncodeToString([]byte(c.b))
}

func encodeBase58(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	digits := make([]byte, 0, len(b)*138/100+1) // little-endian base-58 digits
	for _, x := range b[zeros:] {
		carry := uint32(x)
		for j := range digits {
			carry += uint32(digits[j]) << 8
			digits[j] = byte(carry % 58)
			carry /= 58
		}
		for carry > 0 {
			digits = append(digits, byte(carry%58))
			carry /= 58
		}
	}
	out := make([]byte, zeros+len(digits))
	for i := 0; i < zeros; i++ {
		out[i] = alphabet58[0]
	}
	for i := range digits {
		out[len(out)-1-i] = alphabet58[digits[i]]
	}
	return string(out)
}

// MustParse is Parse for CIDs written in the source, such as a test's fixtures: it
// panics on an error.
func MustParse(s string) CID {
	c, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return c
}

// MarshalText prints c as String does; the zero CID prints as "".
func (c CID) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads a CID as Parse does, so that a CID in JSON is checked where the
// JSON is decoded, once. "" reads as the zero CID (no CID): whether one is needed is the
// decoded type's Validate to say.
func (c *CID) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*c = CID{}
		return nil
	}
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*c = p
	return nil
}

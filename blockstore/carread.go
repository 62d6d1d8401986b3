package blockstore

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/boxo/verifcid"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
)

// MaxCARBlockSize is the largest block ImportCAR accepts, in bytes: bitswap's and
// kubo's limit (`ipfs dag import` refuses bigger blocks without --allow-big-block), so
// every imported block can be served to peers.
const MaxCARBlockSize = 2 << 20

// maxCARHeader bounds a CAR header (its list of roots): 1 MiB holds some 25,000 CIDs.
const maxCARHeader = 1 << 20

// maxCIDLen bounds the CID of a section, in bytes (go-car's index limit is 2 KiB).
const maxCIDLen = 2 << 10

// carError is an ImportCAR error: its own message, wrapping ErrBadCAR or ErrBadBlock.
type carError struct {
	msg string
	err error
}

func (e *carError) Error() string { return "blockstore: import car: " + e.msg }
func (e *carError) Unwrap() error { return e.err }

func badCAR(format string, args ...any) error {
	return &carError{msg: fmt.Sprintf(format, args...), err: ErrBadCAR}
}

// carInput counts the bytes read from a CAR and whether it ended; for a CARv2 it ends
// at the end of the data payload (limit).
type carInput struct {
	r     *bufio.Reader
	n     int64
	limit int64 // < 0: none
	ended bool
}

func (in *carInput) room(want int) (int, error) {
	if in.limit < 0 {
		return want, nil
	}
	rest := in.limit - in.n
	if rest <= 0 {
		in.ended = true
		return 0, io.EOF
	}
	return int(min(int64(want), rest)), nil
}

func (in *carInput) Read(p []byte) (int, error) {
	k, err := in.room(len(p))
	if err != nil {
		return 0, err
	}
	n, err := in.r.Read(p[:k])
	in.n += int64(n)
	if err == io.EOF {
		in.ended = true
	}
	return n, err
}

func (in *carInput) ReadByte() (byte, error) {
	if _, err := in.room(1); err != nil {
		return 0, err
	}
	b, err := in.r.ReadByte()
	if err == nil {
		in.n++
	} else if err == io.EOF {
		in.ended = true
	}
	return b, err
}

// carReader reads the sections of a CARv1 or CARv2 stream, checking each block.
type carReader struct {
	in    *carInput
	roots []cid.Cid
	buf   []byte
}

// newCARReader reads the CAR's header (and for a CARv2 its second header, skipping to
// the data payload).
func newCARReader(r io.Reader) (*carReader, error) {
	in := &carInput{r: bufio.NewReaderSize(r, 1<<20), limit: -1}
	headerErr := func(err error) error {
		if in.ended || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return badCAR("the CAR ends in its header after %d bytes", in.n)
		}
		return badCAR("bad CAR header: %v", err)
	}
	if p, err := in.r.Peek(carv2.PragmaSize); err == nil && bytes.Equal(p, carv2.Pragma) {
		if _, err := io.CopyN(io.Discard, in, carv2.PragmaSize); err != nil {
			return nil, headerErr(err)
		}
		var h carv2.Header
		if _, err := h.ReadFrom(in); err != nil {
			return nil, headerErr(err)
		}
		start := uint64(carv2.PragmaSize + carv2.HeaderSize)
		if h.DataOffset < start || h.DataOffset > 1<<40 || h.DataSize > 1<<62 {
			return nil, badCAR("bad CARv2 header: data at offset %d, %d bytes", h.DataOffset, h.DataSize)
		}
		if _, err := io.CopyN(io.Discard, in, int64(h.DataOffset-start)); err != nil {
			return nil, headerErr(err)
		}
		in.limit = in.n + int64(h.DataSize)
	}
	br, err := carv2.NewBlockReader(in, carv2.MaxAllowedHeaderSize(maxCARHeader))
	if err != nil {
		return nil, headerErr(err)
	}
	if br.Version != 1 {
		return nil, badCAR("bad CAR header: version %d inside the data payload", br.Version)
	}
	return &carReader{in: in, roots: br.Roots}, nil
}

// next returns the next block's CID and bytes (valid until the next call), or io.EOF
// after the last. Errors say what is wrong and where.
func (cr *carReader) next() (cid.Cid, []byte, error) {
	in := cr.in
	at := in.n
	size, err := binary.ReadUvarint(in)
	switch {
	case err == io.EOF && in.n == at:
		return cid.Undef, nil, io.EOF
	case in.ended:
		return cid.Undef, nil, badCAR("the CAR ends in the middle of a block after %d bytes", in.n)
	case err != nil:
		return cid.Undef, nil, badCAR("section at byte %d: bad length: %v", at, err)
	case in.n-at != int64(len(binary.AppendUvarint(nil, size))):
		return cid.Undef, nil, badCAR("section at byte %d: length %d is not minimally encoded", at, size)
	case size == 0:
		return cid.Undef, nil, badCAR("section at byte %d: empty section", at)
	case size > MaxCARBlockSize+maxCIDLen:
		return cid.Undef, nil, badCAR("section at byte %d declares a section of %d bytes, over the limit of %d (a block of at most %d bytes and its CID)",
			at, size, MaxCARBlockSize+maxCIDLen, MaxCARBlockSize)
	}
	if uint64(cap(cr.buf)) < size {
		cr.buf = make([]byte, size)
	}
	sec := cr.buf[:size]
	if n, err := io.ReadFull(in, sec); err != nil {
		if in.ended {
			return cid.Undef, nil, badCAR("the CAR ends in the middle of a block after %d bytes (%d of the section's %d)", in.n, n, size)
		}
		return cid.Undef, nil, badCAR("section at byte %d: %v", at, err)
	}
	n, c, err := cid.CidFromBytes(sec)
	if err != nil {
		return cid.Undef, nil, badCAR("section at byte %d: invalid CID: %v", at, err)
	}
	data := sec[n:]
	if len(data) > MaxCARBlockSize {
		return cid.Undef, nil, badCAR("block %s at byte %d holds %d bytes, over the limit of %d", c, at, len(data), MaxCARBlockSize)
	}
	if err := verifcid.ValidateCid(verifcid.DefaultAllowlist, c); err != nil {
		return cid.Undef, nil, &carError{msg: fmt.Sprintf("block %s at byte %d: its hash function is not allowed: %v", c, at, err), err: ErrBadBlock}
	}
	got, err := c.Prefix().Sum(data)
	if err != nil {
		return cid.Undef, nil, &carError{msg: fmt.Sprintf("block %s at byte %d: %v", c, at, err), err: ErrBadBlock}
	}
	if !got.Equals(c) {
		return cid.Undef, nil, &carError{msg: fmt.Sprintf("block %s does not match its CID (section at byte %d; its bytes hash to %s)", c, at, got), err: ErrBadBlock}
	}
	return c, data, nil
}

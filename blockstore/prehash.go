package blockstore

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"sync"

	"github.com/ipfs/go-cid"
	pool "github.com/libp2p/go-buffer-pool"
	mh "github.com/multiformats/go-multihash"
)

// prehasher reads a file ahead in chunks and hashes them on other goroutines, so that
// hashing (most of an import's CPU time) uses every core: boxo's importer hashes each
// leaf on the goroutine that builds the DAG. Its Builder is the importer's CID builder:
// it returns the precomputed hash for the next chunk when the bytes to hash are that
// chunk's, byte for byte, and hashes anything else itself, so the CIDs are the
// importer's whatever happens.
//
// Read must be read to the end or Close called; Close waits for the goroutines.
type prehasher struct {
	src     io.Reader
	size    int
	workers int

	order chan *piece // pieces in file order, for Read
	work  chan *piece // pieces to hash
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once

	cur  *piece // being read
	off  int
	mu   sync.Mutex
	read []*piece // read, not yet matched by Sum (at most prehashDepth)
	hits int      // hashes Sum took from the workers
}

type piece struct {
	data []byte // from the buffer pool
	err  error  // after data: the read error (io.EOF at the end)
	sum  [sha256.Size]byte
	done chan struct{} // closed once sum is set

	// Guarded by prehasher.mu: once both are true, data goes back to the pool.
	consumed, matched bool
}

// prehashDepth is how many chunks are read ahead.
const prehashDepth = 8

func newPrehasher(src io.Reader, size, workers int) *prehasher {
	p := &prehasher{
		src:     src,
		size:    size,
		workers: workers,
		order:   make(chan *piece, prehashDepth),
		work:    make(chan *piece, prehashDepth),
		stop:    make(chan struct{}),
	}
	p.wg.Add(1)
	go p.produce()
	return p
}

// produce reads the pieces. A file of one chunk (most of a job's result) is hashed
// here; the hashing goroutines start with the second chunk.
func (p *prehasher) produce() {
	defer p.wg.Done()
	defer close(p.order)
	defer close(p.work)
	for first := true; ; first = false {
		select {
		case <-p.stop: // checked first: Close is not kept waiting on another read
			return
		default:
		}
		buf := pool.Get(p.size)
		n, err := io.ReadFull(p.src, buf)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		pc := &piece{data: buf[:n], err: err, done: make(chan struct{})}
		if first && err != nil {
			pc.sum = sha256.Sum256(pc.data)
			close(pc.done)
		} else {
			if first {
				p.wg.Add(p.workers)
				for range p.workers {
					go p.hash()
				}
			}
			select {
			case p.work <- pc:
			case <-p.stop:
				return
			}
		}
		select {
		case p.order <- pc:
		case <-p.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (p *prehasher) hash() {
	defer p.wg.Done()
	for pc := range p.work {
		pc.sum = sha256.Sum256(pc.data)
		close(pc.done)
	}
}

func (p *prehasher) Read(b []byte) (int, error) {
	for p.cur == nil || p.off == len(p.cur.data) {
		if p.cur != nil && p.cur.err != nil {
			return 0, p.cur.err
		}
		pc, ok := <-p.order
		if !ok {
			return 0, io.ErrClosedPipe
		}
		p.mu.Lock()
		if p.cur != nil {
			p.cur.consumed = true
			p.recycle(p.cur)
		}
		if len(pc.data) > 0 {
			if len(p.read) == prehashDepth { // never matched: the caller hashes other bytes
				p.read = p.read[1:]
			}
			p.read = append(p.read, pc)
		}
		p.mu.Unlock()
		p.cur, p.off = pc, 0
	}
	n := copy(b, p.cur.data[p.off:])
	p.off += n
	return n, nil
}

// sum returns the precomputed SHA-256 of data if data is the oldest chunk read and not
// yet hashed by the caller.
func (p *prehasher) sum(data []byte) ([sha256.Size]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.read) == 0 || len(p.read[0].data) != len(data) {
		return [sha256.Size]byte{}, false
	}
	pc := p.read[0]
	<-pc.done
	if !bytes.Equal(pc.data, data) {
		return [sha256.Size]byte{}, false
	}
	p.read = p.read[1:]
	pc.matched = true
	p.hits++
	p.recycle(pc)
	return pc.sum, true
}

// recycle gives a piece's buffer back once it has been read and its hash used.
func (p *prehasher) recycle(pc *piece) {
	if pc.consumed && pc.matched && pc.data != nil {
		pool.Put(pc.data[:cap(pc.data)])
		pc.data = nil
	}
}

// Close stops reading ahead and waits for the goroutines.
func (p *prehasher) Close() {
	p.once.Do(func() {
		close(p.stop) // the producer's sends select on it too
		p.wg.Wait()
	})
}

// builder returns a cid.Builder for prefix that uses the precomputed hashes.
func (p *prehasher) builder(prefix cid.Prefix) cid.Builder {
	return prehashBuilder{prefix: prefix, p: p}
}

type prehashBuilder struct {
	prefix cid.Prefix
	p      *prehasher
}

func (b prehashBuilder) Sum(data []byte) (cid.Cid, error) {
	if b.prefix.Version == 1 && b.prefix.MhType == mh.SHA2_256 && (b.prefix.MhLength == -1 || b.prefix.MhLength == sha256.Size) {
		if sum, ok := b.p.sum(data); ok {
			m, err := mh.Encode(sum[:], mh.SHA2_256)
			if err != nil {
				return cid.Undef, err
			}
			return cid.NewCidV1(b.prefix.Codec, m), nil
		}
	}
	return b.prefix.Sum(data)
}

func (b prehashBuilder) GetCodec() uint64 { return b.prefix.Codec }

func (b prehashBuilder) WithCodec(c uint64) cid.Builder {
	b.prefix.Codec = c
	return b
}

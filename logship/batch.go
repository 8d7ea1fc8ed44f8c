package logship

import (
	"sync"
	"sync/atomic"
	"time"
)

// Record flags.
const (
	// recNewline: the record's bytes are followed by a newline in the
	// program's output (the newline is not part of the message).
	recNewline uint8 = 1 << iota
	// recPartial: the record is a piece of a line longer than MaxLine; the
	// next record of the same stream continues it.
	recPartial
)

// record is one framed record inside a batch: a line, a piece of a long
// line, or (with multiline joining) several lines joined. Its message is
// data[off:end]; its raw bytes, as the program wrote them, run to end+1 when
// it ends with a newline. Records of a batch are contiguous and cover the
// batch's data from the first byte to the last.
type record struct {
	off, end int32
	flags    uint8
}

func (r record) partial() bool { return r.flags&recPartial != 0 }
func (r record) newline() bool { return r.flags&recNewline != 0 }

// rawEnd is the end of the record's raw bytes, newline included.
func (r record) rawEnd() int32 {
	if r.newline() {
		return r.end + 1
	}
	return r.end
}

// rawLen is the number of bytes the program wrote for this record.
func (r record) rawLen() int64 { return int64(r.rawEnd() - r.off) }

// batch is the unit that travels from a capture to the sinks: the bytes of
// one or more reads and the records framed in them. One batch is shared by
// every sink; the last sink to release it returns it to the pool. Nothing is
// allocated per line.
type batch struct {
	prog   *program
	stream Stream
	time   time.Time
	data   []byte
	recs   []record
	refs   atomic.Int32
	pool   *batchPool
	// file is the watched file the records were tailed from (stream File).
	file string
}

// message returns the message bytes of r.
func (b *batch) message(r record) []byte { return b.data[r.off:r.end] }

// release drops one reference; the last one returns b to its pool.
func (b *batch) release() {
	if b.refs.Add(-1) == 0 {
		b.pool.put(b)
	}
}

// batchPool recycles batches and their buffers.
type batchPool struct{ p sync.Pool }

// get returns an empty batch whose data has room for at least size bytes.
func (bp *batchPool) get(prog *program, stream Stream, size int) *batch {
	b, _ := bp.p.Get().(*batch)
	if b == nil {
		b = &batch{pool: bp}
	}
	b.prog, b.stream = prog, stream
	if cap(b.data) < size {
		b.data = make([]byte, 0, size)
	}
	return b
}

func (bp *batchPool) put(b *batch) {
	b.prog = nil
	b.file = ""
	b.data = b.data[:0]
	b.recs = b.recs[:0]
	bp.p.Put(b)
}

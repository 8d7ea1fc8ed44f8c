package logship

import (
	"bytes"
	"iter"
	"sync"
	"sync/atomic"
	"time"
)

// Record flags.
const (
	// Newline: the record's bytes are followed by a newline in the
	// program's output (the newline is not part of the message).
	Newline uint8 = 1 << iota
	// Partial: the record is a piece of a line longer than MaxLine; the
	// next record of the same stream continues it.
	Partial
	// Run: the record holds one or more whole lines, each ending with a
	// newline (the last one follows End, as for Newline). A capture
	// frames runs when no sink reads its output line by line (see
	// LineReader): finding the last newline of a read costs far less than
	// finding every one. Lines splits them.
	Run
)

// Record is one framed record inside a batch: a line, a piece of a long
// line, or (with multiline joining) several lines joined. It is a pair of
// offsets, so nothing is allocated per line: its message is
// Data[Off:End]; its raw bytes, as the program wrote them, run to End+1
// when it ends with a newline. Records of a batch are contiguous and cover
// the batch's data from the first byte to the last.
type Record struct {
	Off, End int32
	Flags    uint8
}

// Run reports whether r is a run of whole lines rather than one line.
func (r Record) Run() bool { return r.Flags&Run != 0 }

// Partial reports whether r is a piece of a line longer than MaxLine.
func (r Record) Partial() bool { return r.Flags&Partial != 0 }

// Newline reports whether a newline follows r in the program's output.
func (r Record) Newline() bool { return r.Flags&Newline != 0 }

// RawEnd is the end of the record's raw bytes, newline included.
func (r Record) RawEnd() int32 {
	if r.Newline() {
		return r.End + 1
	}
	return r.End
}

// RawLen is the number of bytes the program wrote for this record.
func (r Record) RawLen() int64 { return int64(r.RawEnd() - r.Off) }

// Batch is the unit that travels from a capture to the sinks: the bytes of
// one or more reads and the records framed in them. One batch is shared by
// every sink, never copied per sink: a sink that keeps it takes a
// reference (Ref) and releases it when done; the last release returns it
// to its pool. Sinks only read a batch.
type Batch struct {
	// Program wrote the records; its counters take each sink's drops.
	Program *Program
	// Stream the records were read from.
	Stream Stream
	// Time is when tend read the bytes.
	Time time.Time
	// Data holds the records' bytes; Records frame them.
	Data    []byte
	Records []Record
	// File is the watched file the records were tailed from (stream File).
	File string

	refs atomic.Int32
	pool *pool
}

// LineCount is the number of lines b holds: its records, a run counting
// for each of its lines.
func (b *Batch) LineCount() int64 { return CountLines(b.Data, 0, b.Records) }

// Lines returns the records of b one line each: b.Records itself when no
// record is a run, else the records with every run split into its lines,
// in *buf (the caller's buffer, reused from call to call). A sink that
// reads line by line calls it; a sink that writes the bytes as they came
// needs no more than b.Records.
func (b *Batch) Lines(buf *[]Record) []Record {
	if !HasRun(b.Records) {
		return b.Records
	}
	*buf = AppendLines((*buf)[:0], b.Data, 0, b.Records)
	return *buf
}

// HasRun reports whether a record of recs is a run of lines.
func HasRun(recs []Record) bool {
	for _, r := range recs {
		if r.Run() {
			return true
		}
	}
	return false
}

// CountLines is the number of lines of recs, whose bytes data holds from
// offset base on: one per record, a run counting for each of its lines.
func CountLines(data []byte, base int32, recs []Record) int64 {
	n := int64(len(recs))
	for _, r := range recs {
		if r.Run() {
			n += int64(bytes.Count(data[r.Off-base:r.End-base], newline))
		}
	}
	return n
}

// AppendLines appends recs to dst one line each: every run split into its
// lines, the other records as they are. data holds the records' bytes
// from offset base on.
func AppendLines(dst []Record, data []byte, base int32, recs []Record) []Record {
	for _, r := range recs {
		if !r.Run() {
			dst = append(dst, r)
			continue
		}
		for line := range runLines(data, base, r) {
			dst = append(dst, line)
		}
	}
	return dst
}

// runLines yields the lines of the run r, the first first; data holds its
// bytes from offset base on.
func runLines(data []byte, base int32, r Record) iter.Seq[Record] {
	return func(yield func(Record) bool) {
		off := r.Off
		for {
			j := bytes.IndexByte(data[off-base:r.End-base], '\n')
			if j < 0 {
				break
			}
			if !yield(Record{Off: off, End: off + int32(j), Flags: Newline}) {
				return
			}
			off += int32(j) + 1
		}
		yield(Record{Off: off, End: r.End, Flags: r.Flags &^ Run})
	}
}

var newline = []byte{'\n'}

// Message returns the message bytes of r.
func (b *Batch) Message(r Record) []byte { return b.Data[r.Off:r.End] }

// Size is the memory the batch holds, which sink queues count.
func (b *Batch) Size() int64 { return int64(cap(b.Data)) }

// Ref takes one more reference to b, for a sink that keeps it.
func (b *Batch) Ref() { b.refs.Add(1) }

// Release drops one reference; the last one returns b to its pool.
func (b *Batch) Release() {
	if b.refs.Add(-1) == 0 && b.pool != nil {
		b.pool.put(b)
	}
}

// pool recycles batches whose buffers have one capacity, its size.
type pool struct {
	size int
	p    sync.Pool
}

// get returns an empty batch, holding one reference, whose data has room
// for the pool's size.
func (bp *pool) get(prog *Program, stream Stream) *Batch {
	b, _ := bp.p.Get().(*Batch)
	if b == nil {
		b = &Batch{pool: bp}
	}
	b.Program, b.Stream = prog, stream
	if cap(b.Data) < bp.size {
		b.Data = make([]byte, 0, bp.size)
	}
	b.refs.Store(1)
	return b
}

func (bp *pool) put(b *Batch) {
	b.Program = nil
	b.File = ""
	b.Data = b.Data[:0]
	if cap(b.Data) > 2*bp.size {
		// It grew for a long line: the pool keeps buffers of its size
		// only, so that a batch got for a few lines never pins megabytes.
		b.Data = nil
	}
	b.Records = b.Records[:0]
	bp.p.Put(b)
}

// Buffer sizes of pooled batches: small ones for a few lines (copied out of
// the read buffer), and read buffers from ReadSize to MaxReadSize, doubling.
const readClasses = 5 // ReadSize << 0 ... ReadSize << 4 == MaxReadSize

// pools are the batch pools of a pipeline, one per buffer size.
type pools struct {
	small pool
	read  [readClasses]pool
}

func newPools() *pools {
	ps := &pools{small: pool{size: smallBatch}}
	for i := range ps.read {
		ps.read[i].size = ReadSize << i
	}
	return ps
}

// get returns an empty batch, holding one reference, with room for at
// least size bytes, from the pool of the smallest buffers that fit. A
// batch larger than every pool (a line of up to MaxLine being read) is
// made for the occasion and not pooled.
func (ps *pools) get(prog *Program, stream Stream, size int) *Batch {
	if size <= smallBatch {
		return ps.small.get(prog, stream)
	}
	for i := range ps.read {
		if size <= ps.read[i].size {
			return ps.read[i].get(prog, stream)
		}
	}
	b := &Batch{Program: prog, Stream: stream, Data: make([]byte, 0, size)}
	b.refs.Store(1)
	return b
}

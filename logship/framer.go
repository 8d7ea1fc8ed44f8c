package logship

import "bytes"

// framer cuts a program's byte stream into records: lines, pieces of lines
// longer than maxLine (marked partial), and, with joining on, Java stack
// traces joined into the record of the line before them.
//
// It works in place on the buffer the capture reads into and keeps only
// offsets: frame is called after every read with the whole buffer, appends
// the records that are complete, and cut says where the bytes that must wait
// for more input begin. The capture then moves those bytes to the front of
// the next buffer and calls shift.
type framer struct {
	maxLine int
	join    bool // Java multiline joining
	joinMax int  // size limit of a joined record

	pos  int // start of the first byte not yet framed
	scan int // where the search for the next newline resumes

	pend    record // the last record, while joining may still extend it
	hasPend bool
}

func newFramer(maxLine int, multiline string) framer {
	f := framer{maxLine: maxLine}
	if multiline == "java" {
		f.join = true
		f.joinMax = max(maxLine, joinLimit)
	}
	return f
}

// frame appends to recs every record that is complete in data.
func (f *framer) frame(data []byte, recs []record) []record {
	for {
		limit := f.pos + f.maxLine + 1 // a newline right after maxLine bytes still ends a whole line
		stop := min(len(data), limit)
		if i := bytes.IndexByte(data[f.scan:stop], '\n'); i >= 0 {
			nl := f.scan + i
			recs = f.line(data, recs, record{off: int32(f.pos), end: int32(nl), flags: recNewline})
			f.pos, f.scan = nl+1, nl+1
			continue
		}
		if stop < limit {
			// Not enough bytes to decide; wait for more.
			f.scan = stop
			return recs
		}
		// maxLine+1 bytes and no newline: cut a piece of maxLine bytes.
		end := f.pos + f.maxLine
		recs = f.line(data, recs, record{off: int32(f.pos), end: int32(end), flags: recPartial})
		f.pos, f.scan = end, end
	}
}

// line hands one framed line to the joiner, or straight out without joining.
func (f *framer) line(data []byte, recs []record, r record) []record {
	if !f.join {
		return append(recs, r)
	}
	if f.hasPend && !f.pend.partial() && !r.partial() &&
		int(r.end-f.pend.off) <= f.joinMax && javaContinuation(data[r.off:r.end]) {
		f.pend.end, f.pend.flags = r.end, r.flags
		return recs
	}
	recs = f.flush(recs)
	if r.partial() {
		// Pieces of a long line are never joined.
		return append(recs, r)
	}
	f.pend, f.hasPend = r, true
	return recs
}

// flush ends the pending joined record, if any.
func (f *framer) flush(recs []record) []record {
	if f.hasPend {
		recs = append(recs, f.pend)
		f.hasPend = false
	}
	return recs
}

// finish frames everything left at EOF: the pending record and a last line
// without a newline.
func (f *framer) finish(data []byte, recs []record) []record {
	if f.pos < len(data) {
		recs = f.line(data, recs, record{off: int32(f.pos), end: int32(len(data))})
		f.pos, f.scan = len(data), len(data)
	}
	return f.flush(recs)
}

// cut is the offset where the bytes that still wait for input begin: the
// pending joined record or the unfinished line.
func (f *framer) cut() int {
	if f.hasPend {
		return int(f.pend.off)
	}
	return f.pos
}

// shift moves the framer's offsets after the capture moved the bytes from
// off on to the front of a new buffer.
func (f *framer) shift(off int) {
	f.pos -= off
	f.scan -= off
	if f.hasPend {
		f.pend.off -= int32(off)
		f.pend.end -= int32(off)
	}
}

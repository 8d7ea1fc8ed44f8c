package logship

import (
	"bytes"
	"unicode/utf8"
)

// Framer cuts a program's byte stream into records: lines, pieces of lines
// longer than maxLine (marked partial, cut between characters when the
// text is UTF-8), and, with joining on, Java stack traces joined into the
// record of the line before them. The lines do not depend on how the
// bytes were cut into reads (a run framer's runs do: each holds the whole
// lines of one read).
//
// It works in place on the buffer the capture reads into and keeps only
// offsets: Frame is called after every read with the whole buffer, appends
// the records that are complete, and Cut says where the bytes that must wait
// for more input begin. The reader then moves those bytes to the front of
// the next buffer and calls Shift. The tailer of watched files frames their
// lines the same way.
type Framer struct {
	maxLine int
	join    bool // Java multiline joining
	joinMax int  // size limit of a joined record
	runs    bool // whole lines framed in runs (Run), not one by one

	pos  int // start of the first byte not yet framed
	scan int // where the search for the next newline resumes

	pend    Record // the last record, while joining may still extend it
	hasPend bool
}

// NewFramer returns a framer that cuts lines longer than maxLine into
// pieces and, with multiline "java", joins Java stack traces.
func NewFramer(maxLine int, multiline string) Framer {
	f := Framer{maxLine: maxLine}
	if multiline == "java" {
		f.join = true
		f.joinMax = max(maxLine, joinLimit)
	}
	return f
}

// NewRunFramer returns a framer for output that no sink reads line by
// line: the whole lines of each read become one record (Run), and only a
// line longer than maxLine is cut into pieces, as NewFramer cuts it.
func NewRunFramer(maxLine int) Framer { return Framer{maxLine: maxLine, runs: true} }

// Frame appends to recs every record that is complete in data.
func (f *Framer) Frame(data []byte, recs []Record) []Record {
	if f.runs {
		return f.frameRuns(data, recs)
	}
	if !f.join {
		return f.frameLines(data, recs)
	}
	for {
		limit := f.pos + f.maxLine + 1 // a newline right after maxLine bytes still ends a whole line
		stop := min(len(data), limit)
		if i := bytes.IndexByte(data[f.scan:stop], '\n'); i >= 0 {
			nl := f.scan + i
			recs = f.line(data, recs, Record{Off: int32(f.pos), End: int32(nl), Flags: Newline})
			f.pos, f.scan = nl+1, nl+1
			continue
		}
		if stop < limit {
			// Not enough bytes to decide; wait for more.
			f.scan = stop
			return recs
		}
		// maxLine+1 bytes and no newline: cut a piece of maxLine bytes.
		end, ok := pieceEnd(data, f.pos, f.pos+f.maxLine, false)
		if !ok {
			// A character the cut would split is not all read yet.
			f.scan = stop
			return recs
		}
		recs = f.line(data, recs, Record{Off: int32(f.pos), End: int32(end), Flags: Partial})
		f.pos, f.scan = end, end
	}
}

// frameLines is Frame without joining, the loop every byte of output goes
// through: one search for the next newline per line, and the record
// appended in place.
func (f *Framer) frameLines(data []byte, recs []Record) []Record {
	pos, scan := f.pos, f.scan
	for {
		limit := pos + f.maxLine + 1 // a newline right after maxLine bytes still ends a whole line
		stop := min(len(data), limit)
		if i := bytes.IndexByte(data[scan:stop], '\n'); i >= 0 {
			nl := scan + i
			recs = append(recs, Record{Off: int32(pos), End: int32(nl), Flags: Newline})
			pos, scan = nl+1, nl+1
			continue
		}
		if stop < limit {
			// Not enough bytes to decide; wait for more.
			f.pos, f.scan = pos, stop
			return recs
		}
		// maxLine+1 bytes and no newline: cut a piece of maxLine bytes.
		end, ok := pieceEnd(data, pos, pos+f.maxLine, false)
		if !ok {
			// A character the cut would split is not all read yet.
			f.pos, f.scan = pos, stop
			return recs
		}
		recs = append(recs, Record{Off: int32(pos), End: int32(end), Flags: Partial})
		pos, scan = end, end
	}
}

// runTail bounds the search for the last newline of a read, backwards
// from its end: a last line longer than that is framed line by line.
const runTail = 4 << 10

// frameRuns is Frame for runs: the whole lines of data up to its last
// newline become one record, once no line among them is longer than
// maxLine. Finding the last newline looks at the bytes of the last line
// only; the check of the lines' lengths looks at a few bytes per maxLine;
// what is left (long lines) goes to frameLines.
func (f *Framer) frameRuns(data []byte, recs []Record) []Record {
	from := max(f.scan, len(data)-runTail)
	i := bytes.LastIndexByte(data[from:], '\n')
	if i < 0 || !linesWithin(data[f.pos:from+i+1], f.maxLine) {
		return f.frameLines(data, recs)
	}
	end := from + i
	recs = append(recs, Record{Off: int32(f.pos), End: int32(end), Flags: Newline | Run})
	f.pos, f.scan = end+1, len(data)
	if len(data)-f.pos > f.maxLine {
		// The unfinished line is too long already: cut its pieces.
		f.scan = f.pos
		return f.frameLines(data, recs)
	}
	return recs
}

// linesWithin reports whether no line of p, which begins a line and ends
// with a newline, is longer than maxLine before its newline. It looks for
// a newline in the second half of each window of maxLine bytes only: one
// there ends every line begun before it in the window.
func linesWithin(p []byte, maxLine int) bool {
	pos := 0
	for len(p)-pos > maxLine+1 {
		half := pos + maxLine/2
		if i := bytes.IndexByte(p[half:pos+maxLine+1], '\n'); i >= 0 {
			pos = half + i + 1
			continue
		}
		// No newline there: the line at pos must end within maxLine.
		i := bytes.IndexByte(p[pos:pos+maxLine+1], '\n')
		if i < 0 {
			return false
		}
		pos += i + 1
	}
	return true
}

// pieceEnd returns where a piece of a line longer than maxLine, starting
// at pos, ends: at end (pos+maxLine), or up to three bytes before it when
// end would fall inside a valid UTF-8 sequence, so that the character
// travels whole in the next piece. Cut in two, it would become two U+FFFD
// in JSON and in Fluentd; with text of three bytes a character (Chinese,
// Japanese) nearly every cut would. Bytes that are not valid UTF-8 are cut
// at end, and a piece is never left empty. data holds at least the bytes
// to end. ok is false when the answer needs bytes not read yet (a sequence
// that is valid so far runs past data); at EOF (eof) such a sequence is
// cut short, so it is not valid, and the piece ends at end.
func pieceEnd(data []byte, pos, end int, eof bool) (cut int, ok bool) {
	if end >= len(data) || utf8.RuneStart(data[end]) {
		return end, true
	}
	for s := end - 1; s > pos && s >= end-(utf8.UTFMax-1); s-- {
		if !utf8.RuneStart(data[s]) {
			continue
		}
		if !utf8.FullRune(data[s:]) {
			return end, eof
		}
		if _, size := utf8.DecodeRune(data[s:]); size > 1 && s+size > end {
			return s, true
		}
		break
	}
	return end, true
}

// line hands one framed line to the joiner, or straight out without joining.
func (f *Framer) line(data []byte, recs []Record, r Record) []Record {
	if !f.join {
		return append(recs, r)
	}
	if f.hasPend && !f.pend.Partial() && !r.Partial() &&
		int(r.End-f.pend.Off) <= f.joinMax && javaContinuation(data[r.Off:r.End]) {
		f.pend.End, f.pend.Flags = r.End, r.Flags
		return recs
	}
	recs = f.Flush(recs)
	if r.Partial() {
		// Pieces of a long line are never joined.
		return append(recs, r)
	}
	f.pend, f.hasPend = r, true
	return recs
}

// Flush ends the pending joined record, if any.
func (f *Framer) Flush(recs []Record) []Record {
	if f.hasPend {
		recs = append(recs, f.pend)
		f.hasPend = false
	}
	return recs
}

// Finish frames everything left at EOF: the pending record and a last line
// without a newline.
func (f *Framer) Finish(data []byte, recs []Record) []Record {
	for len(data)-f.pos > f.maxLine {
		// Frame waited for the rest of a character that never came.
		end, _ := pieceEnd(data, f.pos, f.pos+f.maxLine, true)
		recs = f.line(data, recs, Record{Off: int32(f.pos), End: int32(end), Flags: Partial})
		f.pos, f.scan = end, end
	}
	if f.pos < len(data) {
		recs = f.line(data, recs, Record{Off: int32(f.pos), End: int32(len(data))})
		f.pos, f.scan = len(data), len(data)
	}
	return f.Flush(recs)
}

// Pending reports whether a joined record waits for a next line that may
// extend it; it is handed on by Flush after FlushDelay without one.
func (f *Framer) Pending() bool { return f.hasPend }

// Reset returns f to its state before any input, with its settings.
func (f *Framer) Reset() {
	*f = Framer{maxLine: f.maxLine, join: f.join, joinMax: f.joinMax, runs: f.runs}
}

// Cut is the offset where the bytes that still wait for input begin: the
// pending joined record or the unfinished line.
func (f *Framer) Cut() int {
	if f.hasPend {
		return int(f.pend.Off)
	}
	return f.pos
}

// Shift moves the framer's offsets after the reader moved the bytes from
// off on to the front of a new buffer.
func (f *Framer) Shift(off int) {
	f.pos -= off
	f.scan -= off
	if f.hasPend {
		f.pend.Off -= int32(off)
		f.pend.End -= int32(off)
	}
}

package logship

import "slices"

// appendPlain appends the bytes at the start of s that a JSON string
// holds as they are (printable ASCII other than '"' and '\\') to dst, and
// returns dst and how many bytes that is. On amd64 it compares sixteen
// bytes in one instruction (SSE2, which every amd64 processor has) and
// copies them in the same scan, into room for all of s: the word scan
// was a fifth of tend's CPU in a json console, and a scan then a copy
// made two passes over every message.
func appendPlain(dst, s []byte) ([]byte, int) {
	// The scan writes up to len(s) bytes: it needs the room even where it
	// stops early. A long run is scanned a window at a time, so that the
	// room asked for is what a line needs, not what the run holds. Fewer
	// than sixteen bytes (a short string, a run's tail) go by words.
	total := 0
	for {
		w := min(len(s), max(cap(dst)-len(dst), plainWindow))
		if w < 16 {
			n := plainLenWords(s)
			return append(dst, s[:n]...), total + n
		}
		if cap(dst)-len(dst) < w {
			dst = slices.Grow(dst, w)
		}
		n := copyPlainSSE2(dst[len(dst):len(dst)+w], s[:w])
		dst = dst[:len(dst)+n]
		total += n
		if n < w || w == len(s) {
			return dst, total
		}
		s = s[w:]
	}
}

// plainWindow is the least room appendPlain grows dst by: a few lines.
const plainWindow = 4 << 10

// copyPlainSSE2 is appendPlain's scan and copy, in plainlen_amd64.s:
// len(dst) must be at least len(s), and len(s) at least sixteen.
//
//go:noescape
func copyPlainSSE2(dst, s []byte) int

// appendJSONLines appends the JSON objects of the lines at the start of
// rest that a newline ends and that hold only plain bytes, start (from
// AppendJSONStart) before each, as AppendJSONNext would one at a time,
// while dst stays within limit bytes. It returns dst, what is left of
// rest, and whether it stopped at a line with a byte to escape. The lines
// it cannot format so are left, and the last one (no newline ends it),
// for AppendJSONNext. One call formats a run of such lines in one scan,
// with nothing done per line outside it.
func appendJSONLines(dst, start, rest []byte, limit int) ([]byte, []byte, bool) {
	if len(start) < 16 || limit <= len(dst) {
		return dst, rest, false
	}
	// The room up to limit, and some after it for the line that
	// AppendJSONNext adds when this one stops short of limit.
	dst = slices.Grow(dst, limit+limit/16-len(dst))
	written, consumed, escape := appendJSONLinesSSE2(dst[len(dst):limit], start, rest)
	return dst[:len(dst)+written], rest[consumed:], escape
}

// appendJSONLinesSSE2 is appendJSONLines's loop, in plainlen_amd64.s: it
// writes within dst's length, and len(start) is at least sixteen.
//
//go:noescape
func appendJSONLinesSSE2(dst, start, s []byte) (written, consumed int, escape bool)

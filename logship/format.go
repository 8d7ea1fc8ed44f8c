package logship

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"time"
	"unicode/utf8"
)

// The JSON object of a record is one line:
//
//	{"time":"2026-01-02T15:04:05.123456789Z","program":"main","stream":"stdout","message":"...","partial":true}
//
// time is RFC 3339 with nanoseconds (trailing zeros trimmed) in UTC, when
// tend read the bytes; "partial" is present only on pieces of a line longer
// than MaxLine; tend's own marker lines carry "tend":true. Field names match
// what Fluent Bit, Loki and Elasticsearch pick up without a custom parser
// (time, message, stream). Invalid UTF-8 becomes U+FFFD; the record is never
// dropped.

// jsonSafe marks the ASCII bytes copied into a JSON string as they are.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// Eight bytes at a time: lsb has 1 in every byte, msb the top bit of every
// byte.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// plainLenWords returns how many bytes at the start of s are printable
// ASCII other than '"' and '\\', the bytes a JSON string holds as they
// are (see appendPlain). It looks at sixteen bytes at a time in two words: a
// log line is nearly all such bytes, and a byte-by-byte loop was most of
// the cost of the json format.
func plainLenWords(s []byte) int {
	i := 0
	for ; i+16 <= len(s); i += 16 {
		lo, hi := special(binary.LittleEndian.Uint64(s[i:])), special(binary.LittleEndian.Uint64(s[i+8:]))
		if lo|hi != 0 {
			if lo != 0 {
				return i + bits.TrailingZeros64(lo)/8
			}
			return i + 8 + bits.TrailingZeros64(hi)/8
		}
	}
	if i+8 <= len(s) {
		if sp := special(binary.LittleEndian.Uint64(s[i:])); sp != 0 {
			return i + bits.TrailingZeros64(sp)/8
		}
		i += 8
	}
	if i < len(s) && len(s) >= 8 {
		// The last bytes, in one word that ends at the end of s: the
		// bytes before i in it are plain, so the lowest marked is the
		// first special one.
		at := len(s) - 8
		if sp := special(binary.LittleEndian.Uint64(s[at:])); sp != 0 {
			return at + bits.TrailingZeros64(sp)/8
		}
		return len(s)
	}
	for ; i < len(s) && s[i] < utf8.RuneSelf && jsonSafe[s[i]]; i++ {
	}
	return i
}

// special marks, in bit 7 of each byte, the bytes of the eight in w that
// a JSON string cannot hold as they are: below 0x20, '"', '\\', or with
// bit 7 set (not ASCII). Subtracting 0x20, or 1 from the byte XOR '"' or
// '\\', sets bit 7 of a byte that is special, or of one that has bit 7 set
// already; it borrows from the next byte only when the byte is special,
// so a byte can be marked wrongly only above one marked rightly, and the
// lowest byte marked is the first special one.
func special(w uint64) uint64 {
	q, bs := w^(lsb*'"'), w^(lsb*'\\')
	return ((w - lsb*0x20) | (q - lsb) | (bs - lsb) | w) & msb
}

// appendJSONString appends s as a JSON string, quotes included.
func appendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	dst = appendJSONChars(dst, s)
	return append(dst, '"')
}

// appendJSONChars appends s escaped for a JSON string, without quotes:
// '"', '\\' and control characters escaped, valid UTF-8 as it is, and
// U+FFFD for each byte that is not part of valid UTF-8.
func appendJSONChars(dst, s []byte) []byte {
	for {
		var n int
		dst, n = appendPlain(dst, s)
		s = s[n:]
		if len(s) == 0 {
			return dst
		}
		dst, s = appendEscaped(dst, s)
	}
}

// appendEscaped appends the character at the start of s, a byte that
// appendPlain stopped at, as a JSON string holds it, and returns the rest of
// s.
func appendEscaped(dst, s []byte) ([]byte, []byte) {
	c := s[0]
	if c < utf8.RuneSelf {
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		return dst, s[1:]
	}
	r, size := utf8.DecodeRune(s)
	if r == utf8.RuneError && size == 1 {
		return append(dst, `\ufffd`...), s[1:]
	}
	return append(dst, s[:size]...), s[size:]
}

// AppendJSONNext appends start (AppendJSONStart) and the rest of the JSON
// object of the next line of record r of b: r's whole message when r is
// no run, else the first line of rest, the part of r's message not
// formatted yet (all of it at first; a run holds whole lines with a
// newline between each two, so "a\n" is the lines "a" and ""). It returns
// that line's own record (for a sink that rotates or counts line by line),
// the rest of r's message, and whether lines of r are left. A sink calls
// it until more is false, for each record of a batch. The scan that finds
// the bytes to escape finds the newline too, so such a sink needs no
// line framed by the capture.
func (b *Batch) AppendJSONNext(dst, start []byte, r Record, rest []byte) (out []byte, line Record, left []byte, more bool) {
	dst = append(dst, start...)
	if !r.Run() {
		return AppendJSONEnd(dst, rest, r.Partial(), false), r, nil, false
	}
	line = Record{Off: r.End - int32(len(rest)), End: r.End, Flags: r.Flags &^ Run}
	for {
		var n int
		dst, n = appendPlain(dst, rest)
		rest = rest[n:]
		if len(rest) == 0 {
			return append(dst, '"', '}', '\n'), line, nil, false
		}
		if rest[0] == '\n' {
			line.End, line.Flags = r.End-int32(len(rest)), Newline
			return append(dst, '"', '}', '\n'), line, rest[1:], true
		}
		dst, rest = appendEscaped(dst, rest)
	}
}

// AppendJSONLines appends, as AppendJSONNext would one call per line, the
// JSON objects of the lines at the start of rest (the part of run r's
// message not formatted yet) that a newline ends and that hold no byte
// to escape, while dst stays within limit bytes, and returns dst and what
// is left of rest. It formats no line of a record that is no run, nor the
// run's last line: AppendJSONNext formats what it leaves. escape reports
// that it stopped at a line with a byte to escape. For a sink that needs
// no record per line (the console), this is the fast path: one scan for
// the lines of a run, with nothing done per line outside it.
func (b *Batch) AppendJSONLines(dst, start []byte, r Record, rest []byte, limit int) (out, left []byte, escape bool) {
	if !r.Run() {
		return dst, rest, false
	}
	return appendJSONLines(dst, start, rest, limit)
}

// AppendJSONRecord appends the JSON object of one record and a newline. ts
// is the record's time, formatted by AppendTime; marker marks tend's own
// lines ("tend":true).
func AppendJSONRecord(dst, ts []byte, program string, stream Stream, msg []byte, partial, marker bool) []byte {
	dst = AppendJSONStart(dst, ts, program, stream)
	return AppendJSONEnd(dst, msg, partial, marker)
}

// AppendJSONStart appends the start of a record's JSON object, the same
// for every record of a batch: time, program and stream, up to the
// message's opening quote. A sink formats it once per batch, then calls
// AppendJSONEnd for each record after a copy of it.
func AppendJSONStart(dst, ts []byte, program string, stream Stream) []byte {
	dst = append(dst, `{"time":"`...)
	dst = append(dst, ts...)
	dst = append(dst, `","program":"`...)
	dst = appendJSONChars(dst, []byte(program))
	dst = append(dst, `","stream":"`...)
	dst = append(dst, stream.String()...)
	return append(dst, `","message":"`...)
}

// AppendJSONEnd appends the rest of a record's JSON object after its
// start (AppendJSONStart): the message, the flags, and a newline.
func AppendJSONEnd(dst, msg []byte, partial, marker bool) []byte {
	dst = appendJSONChars(dst, msg)
	dst = append(dst, '"')
	if partial {
		dst = append(dst, `,"partial":true`...)
	}
	if marker {
		dst = append(dst, `,"tend":true`...)
	}
	return append(dst, '}', '\n')
}

// AppendTime appends t as RFC 3339 with nanoseconds in UTC.
func AppendTime(dst []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(dst, time.RFC3339Nano)
}

// AppendPrefixed appends msg as "NAME | line\n", one such line for each
// line in msg (a joined stack trace gets the prefix on every line).
func AppendPrefixed(dst []byte, program string, msg []byte) []byte {
	for {
		dst = append(dst, program...)
		dst = append(dst, " | "...)
		i := indexNewline(msg)
		if i < 0 {
			dst = append(dst, msg...)
			return append(dst, '\n')
		}
		dst = append(dst, msg[:i+1]...)
		msg = msg[i+1:]
	}
}

func indexNewline(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}

// Loss is a set of reasons a sink dropped records, as its "dropped"
// marker names them.
type Loss uint8

// Loss reasons.
const (
	LostBudget  Loss = 1 << iota // the disk budget was full
	LostMinFree                  // free space was below MinFree
	LostNoSpace                  // the disk was full (ENOSPC)
	LostError                    // another write error
	LostBuffer                   // the sink's queue was full (non-blocking mode)
)

var lossNames = []string{"disk budget", "min free space", "disk full", "write error", "sink too slow"}

// String names the first reason in l.
func (l Loss) String() string {
	for i, name := range lossNames {
		if l&(1<<i) != 0 {
			return name
		}
	}
	return "none"
}

// AppendDropped appends the marker line a sink writes where records are
// missing, when writing resumes after drops (without the newline):
//
//	dropped 2 lines (20 bytes) from agent (disk budget, disk full)
func AppendDropped(dst []byte, program string, d Drops, why Loss) []byte {
	dst = append(dst, "dropped "...)
	dst = strconv.AppendInt(dst, d.Lines, 10)
	dst = append(dst, " lines ("...)
	dst = strconv.AppendInt(dst, d.Bytes, 10)
	dst = append(dst, " bytes) from "...)
	dst = append(dst, program...)
	sep := " ("
	for i, name := range lossNames {
		if why&(1<<i) != 0 {
			dst = append(dst, sep...)
			dst = append(dst, name...)
			sep = ", "
		}
	}
	if sep == ", " {
		dst = append(dst, ')')
	}
	return dst
}

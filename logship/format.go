package logship

import (
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

// appendJSONString appends s as a JSON string, quotes included.
func appendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
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
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendJSONRecord appends the JSON object of one record and a newline. ts
// is the record's time, formatted by AppendTime; marker marks tend's own
// lines ("tend":true).
func AppendJSONRecord(dst, ts []byte, program string, stream Stream, msg []byte, partial, marker bool) []byte {
	dst = append(dst, `{"time":"`...)
	dst = append(dst, ts...)
	dst = append(dst, `","program":`...)
	dst = appendJSONString(dst, []byte(program))
	dst = append(dst, `,"stream":"`...)
	dst = append(dst, stream.String()...)
	dst = append(dst, `","message":`...)
	dst = appendJSONString(dst, msg)
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

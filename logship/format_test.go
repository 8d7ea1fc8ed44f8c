package logship

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

type jsonRecord struct {
	Time    string `json:"time"`
	Program string `json:"program"`
	Stream  string `json:"stream"`
	Message string `json:"message"`
	Partial bool   `json:"partial"`
	Tend    bool   `json:"tend"`
}

func FuzzJSONEscape(f *testing.F) {
	f.Add([]byte("plain text"))
	f.Add([]byte("quote \" backslash \\ tab \t nl \n cr \r nul \x00 bell \x07"))
	f.Add([]byte{0xff, 'a', 0xc3, 0x28, 0xe2, 0x82})
	f.Add([]byte("héllo wörld ✓ \u2028 😀"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		ts := AppendTime(nil, time.Unix(1700000000, 123456789))
		line := AppendJSONRecord(nil, ts, "main", Stderr, msg, true, false)
		if line[len(line)-1] != '\n' || strings.Count(string(line), "\n") != 1 {
			t.Fatalf("not one line: %q", line)
		}
		var r jsonRecord
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("does not parse: %v: %q", err, line)
		}
		if r.Program != "main" || r.Stream != "stderr" || !r.Partial {
			t.Fatalf("fields wrong: %+v", r)
		}
		if _, err := time.Parse(time.RFC3339Nano, r.Time); err != nil {
			t.Fatalf("time %q: %v", r.Time, err)
		}
		want := string(msg)
		if !utf8.Valid(msg) {
			// Each invalid byte becomes one U+FFFD.
			want = replaceInvalid(msg)
		}
		if r.Message != want {
			t.Fatalf("message %q, want %q", r.Message, want)
		}
		if got, want := appendJSONString(nil, msg), escapeByteByByte(msg); string(got) != string(want) {
			t.Fatalf("escaped %q, byte by byte %q", got, want)
		}
	})
}

// The lines of a run formatted in the one scan that escapes them
// (AppendJSONNext) are the objects each line makes on its own: a newline
// ends a line, never a multibyte character or an escape, and "a\n" is
// the lines "a" and "". The record it returns for each line is the one
// splitting the run (AppendLines) gives.
func FuzzJSONLinesOfARun(f *testing.F) {
	f.Add([]byte("plain\nquote \" tab \t\n\nlast"))
	f.Add([]byte("\n"))
	f.Add([]byte("cut \xe2\x82\nthen \xe2\x82\xac\r\n\x00\xff"))
	f.Add([]byte(strings.Repeat("0123456789abcdef", 5) + "\n" + strings.Repeat("x", 33)))
	start := AppendJSONStart(nil, AppendTime(nil, time.Unix(1700000000, 0)), "main", Stdout)
	f.Fuzz(func(t *testing.T, run []byte) {
		var want []byte
		for _, line := range bytes.Split(run, []byte("\n")) {
			want = AppendJSONEnd(append(want, start...), line, false, false)
		}
		// The run as a capture frames it: after two bytes of an earlier
		// record, ending before its last newline.
		b := &Batch{Data: append(append([]byte("x\n"), run...), '\n')}
		r := Record{Off: 2, End: int32(2 + len(run)), Flags: Newline | Run}
		var got []byte
		var lines []Record
		rest, more := b.Message(r), true
		for more {
			if len(lines) > len(run) {
				t.Fatalf("more lines than bytes in %q", run)
			}
			var line Record
			got, line, rest, more = b.AppendJSONNext(got, start, r, rest)
			lines = append(lines, line)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("run %q:\n got %q\nwant %q", run, got, want)
		}
		if split := AppendLines(nil, b.Data, 0, []Record{r}); !slices.Equal(lines, split) {
			t.Fatalf("run %q: line records %v, the run's lines %v", run, lines, split)
		}
		// The console's loop, plain lines the fast way (AppendJSONLines)
		// and the rest one at a time, with the room running out anywhere.
		for _, limit := range []int{0, 100, 150, len(want) / 2, len(want) + 1000} {
			var fast []byte
			rest, more := b.Message(r), true
			for more {
				fast, rest, _ = b.AppendJSONLines(fast, start, r, rest, limit)
				fast, _, rest, more = b.AppendJSONNext(fast, start, r, rest)
			}
			if !bytes.Equal(fast, want) {
				t.Fatalf("run %q, limit %d, lines the fast way:\n got %q\nwant %q", run, limit, fast, want)
			}
		}
	})
}

// escapeByteByByte is the plain loop the eight-bytes-at-a-time escaping
// must agree with, byte for byte.
func escapeByteByByte(s []byte) []byte {
	dst := []byte{'"'}
	for len(s) > 0 {
		c := s[0]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '\r':
			dst = append(dst, `\r`...)
		case c == '\t':
			dst = append(dst, `\t`...)
		case c < 0x20:
			dst = fmt.Appendf(dst, `\u%04x`, c)
		case c < utf8.RuneSelf:
			dst = append(dst, c)
		default:
			r, n := utf8.DecodeRune(s)
			if r == utf8.RuneError && n == 1 {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, s[:n]...)
			}
			s = s[n:]
			continue
		}
		s = s[1:]
	}
	return append(dst, '"')
}

// Every byte value at every position of messages of every length up to
// two pairs of sixteen-byte blocks and more, between plain bytes, is found
// by the scan: in a pair of blocks, in a block, in a last word, and in the
// last block or word that overlaps bytes already scanned. appendPlain (a
// vector scan that copies on amd64) and plainLenWords (the word scan,
// what other processors run) each agree with a byte-by-byte count, and
// appendPlain appends exactly the bytes counted after what dst held.
func TestJSONEscapeFindsEverySpecialByteInAWord(t *testing.T) {
	for size := 1; size <= 90; size++ {
		for c := 0; c < 256; c++ {
			for pos := 0; pos < size; pos++ {
				msg := []byte(strings.Repeat("a", size))
				msg[pos] = byte(c)
				want := pos
				if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' {
					want = size
				}
				if got := plainLenWords(msg); got != want {
					t.Fatalf("plainLenWords: byte %#x at %d of %d: %d plain bytes, want %d", c, pos, size, got, want)
				}
				if got, n := appendPlain([]byte("ab"), msg); n != want || string(got) != "ab"+string(msg[:want]) {
					t.Fatalf("appendPlain: byte %#x at %d of %d: %d plain bytes, %q, want %d", c, pos, size, n, got, want)
				}
			}
		}
	}
	for size := 1; size <= 56; size++ {
		for c := 0; c < 256; c++ {
			for pos := 0; pos < size; pos++ {
				msg := []byte(strings.Repeat("a", size))
				msg[pos] = byte(c)
				if got, want := appendJSONString(nil, msg), escapeByteByByte(msg); string(got) != string(want) {
					t.Fatalf("byte %#x at %d of %d: escaped %q, want %q", c, pos, size, got, want)
				}
			}
		}
	}
}

// replaceInvalid replaces each byte that is not part of valid UTF-8 with
// U+FFFD, the way encoding/json does.
func replaceInvalid(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return sb.String()
}

func TestPrefixFormatPrefixesEveryLineOfAJoinedRecord(t *testing.T) {
	got := string(AppendPrefixed(nil, "main", []byte("boom\n\tat x.y(Z.java:1)")))
	want := "main | boom\nmain | \tat x.y(Z.java:1)\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestDroppedMarkerText(t *testing.T) {
	got := string(AppendDropped(nil, "agent", Drops{Lines: 2, Bytes: 20}, LostBudget|LostNoSpace))
	if got != "dropped 2 lines (20 bytes) from agent (disk budget, disk full)" {
		t.Fatal(got)
	}
}

// BenchmarkJSONRecords formats 1 MiB of 120-byte lines as JSON records,
// as a sink formats a large batch.
func BenchmarkJSONRecords(b *testing.B) {
	msg := []byte("000000000042 " + strings.Repeat("x", 106))
	ts := AppendTime(nil, time.Unix(1700000000, 123456789))
	start := AppendJSONStart(nil, ts, "main", Stdout)
	n := (1 << 20) / (len(msg) + 1)
	dst := make([]byte, 0, 2<<20)
	b.SetBytes(int64(n * (len(msg) + 1)))
	for b.Loop() {
		dst = dst[:0]
		for range n {
			dst = append(dst, start...)
			dst = AppendJSONEnd(dst, msg, false, false)
		}
	}
}

// appendPlain copies a long message a window at a time into whatever room
// the buffer has, and grows it: the bytes appended are the message's up
// to its first special byte, wherever that falls against the windows, and
// nothing before the buffer's end is touched.
func TestAppendPlainAcrossWindowsAndRoom(t *testing.T) {
	const window = 4 << 10 // plainWindow on amd64
	for _, size := range []int{17, window - 1, window, window + 1, 3*window + 5} {
		for _, room := range []int{0, 1, 15, 16, 100, window + 7} {
			for _, pos := range []int{-1, 0, 16, window - 1, window, size - 1} {
				if pos >= size {
					continue
				}
				msg := []byte(strings.Repeat("p", size))
				want := size
				if pos >= 0 {
					msg[pos], want = '"', pos
				}
				dst := make([]byte, 3, 3+room)
				copy(dst, "abc")
				got, n := appendPlain(dst, msg)
				if n != want || string(got) != "abc"+string(msg[:want]) {
					t.Fatalf("size %d, room %d, special at %d: %d bytes appended (%d long), want %d", size, room, pos, n, len(got)-3, want)
				}
			}
		}
	}
}

// BenchmarkJSONRun formats a run of 1 MiB of 120-byte lines: a line at
// a time (AppendJSONNext, as a file sink does, which needs each line's
// record), and as the console does, the plain lines the fast way
// (AppendJSONLines) and the run's last line by AppendJSONNext.
func BenchmarkJSONRun(b *testing.B) {
	var data []byte
	for i := 0; len(data)+120 <= 1<<20; i++ {
		data = fmt.Appendf(data, "%012d %s\n", i, strings.Repeat("x", 106))
	}
	batch := &Batch{Data: data}
	r := Record{Off: 0, End: int32(len(data) - 1), Flags: Newline | Run}
	start := AppendJSONStart(nil, AppendTime(nil, time.Unix(1700000000, 123456789)), "main", Stdout)
	const limit = 4 << 20 // room for all of the run's objects
	for _, fast := range []bool{false, true} {
		b.Run(map[bool]string{false: "line-at-a-time", true: "fast"}[fast], func(b *testing.B) {
			var dst []byte
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				dst = dst[:0]
				rest, more := batch.Message(r), true
				for more {
					if fast {
						dst, rest, _ = batch.AppendJSONLines(dst, start, r, rest, limit)
					}
					dst, _, rest, more = batch.AppendJSONNext(dst, start, r, rest)
				}
			}
		})
	}
}

package logship

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// frameAll runs the framer the way a capture does: data arrives in reads
// of the given sizes; complete records leave; the rest moves to the front.
// It returns each record's raw bytes and flags.
//
// With multiline "runs" it frames as a capture whose sinks take runs
// (NewRunFramer), and returns the lines of the runs, checking on the way
// that the runs count their lines and give their last ones right.
func frameAll(t testing.TB, data []byte, reads []int, maxLine int, multiline string) (raws [][]byte, flags []uint8) {
	f := NewFramer(maxLine, multiline)
	if multiline == "runs" {
		f = NewRunFramer(maxLine)
	}
	var buf []byte
	var recs []Record
	emit := func() {
		lines := AppendLines(nil, buf, 0, recs)
		if n := CountLines(buf, 0, recs); n != int64(len(lines)) {
			t.Fatalf("CountLines %d, split into %d lines", n, len(lines))
		}
		for i, r := range recs {
			if !r.Run() {
				continue
			}
			if multiline != "runs" {
				t.Fatalf("a run from a line framer (%q)", multiline)
			}
			// The last lines of a run, as `tend status` keeps them.
			own := AppendLines(nil, buf, 0, recs[i:i+1])
			for _, k := range []int{1, 3, lastLinesKept} {
				dst := make([]Record, k)
				n := lastLinesOf(dst, buf, r)
				want := own[max(0, len(own)-k):]
				slices.Reverse(want)
				if !slices.Equal(dst[:n], want) {
					t.Fatalf("last %d lines of run %v: %v, want %v", k, r, dst[:n], want)
				}
				slices.Reverse(want)
			}
		}
		for _, r := range lines {
			raws = append(raws, append([]byte(nil), buf[r.Off:r.RawEnd()]...))
			flags = append(flags, r.Flags)
		}
		cut := f.Cut()
		if len(recs) > 0 {
			if int(recs[len(recs)-1].RawEnd()) != cut {
				t.Fatalf("records end at %d, cut is %d", recs[len(recs)-1].RawEnd(), cut)
			}
			buf = append([]byte(nil), buf[cut:]...)
			f.Shift(cut)
		}
		recs = recs[:0]
	}
	for i := 0; len(data) > 0; i++ {
		n := len(data)
		if i < len(reads) && reads[i] > 0 && reads[i] < n {
			n = reads[i]
		}
		buf = append(buf, data[:n]...)
		data = data[n:]
		recs = f.Frame(buf, recs)
		emit()
	}
	recs = f.Finish(buf, recs)
	emit()
	return raws, flags
}

func checkFramed(t *testing.T, in []byte, raws [][]byte, flags []uint8, maxLine int) {
	t.Helper()
	if got := bytes.Join(raws, nil); !bytes.Equal(got, in) {
		t.Fatalf("pieces do not rebuild the input:\n in %q\nout %q", in, got)
	}
	off := 0 // of raw in the input
	for i, raw := range raws {
		fl := flags[i]
		msg := raw
		if fl&Newline != 0 {
			if len(raw) == 0 || raw[len(raw)-1] != '\n' {
				t.Fatalf("piece %d flagged newline but is %q", i, raw)
			}
			msg = raw[:len(raw)-1]
		}
		if len(msg) > maxLine {
			t.Fatalf("piece %d is %d bytes, max %d", i, len(msg), maxLine)
		}
		if bytes.IndexByte(msg, '\n') >= 0 {
			t.Fatalf("piece %d holds a newline: %q", i, raw)
		}
		partial := fl&Partial != 0
		if partial && (len(msg) < maxLine-(utf8.UTFMax-1) || fl&Newline != 0) {
			t.Fatalf("piece %d partial but %d bytes, flags %b", i, len(msg), fl)
		}
		if partial && len(msg) < maxLine {
			// Shorter only to keep a character whole: the next piece
			// starts with it, and it would have been cut.
			next := in[off+len(raw):]
			r, size := utf8.DecodeRune(next)
			if (r == utf8.RuneError && size <= 1) || len(msg)+size <= maxLine {
				t.Fatalf("piece %d is %d bytes, max %d, and the next starts with %q", i, len(msg), maxLine, next[:min(len(next), 4)])
			}
		}
		if partial {
			// No valid UTF-8 sequence spans the cut, unless it starts
			// the piece (a piece is never empty).
			cut := off + len(raw)
			for s := max(off+1, cut-(utf8.UTFMax-1)); s < cut; s++ {
				if r, size := utf8.DecodeRune(in[s:]); r != utf8.RuneError && size > 1 && s+size > cut {
					t.Fatalf("piece %d ends inside %q", i, in[s:s+size])
				}
			}
		}
		off += len(raw)
		if !partial && fl&Newline == 0 && i != len(raws)-1 {
			t.Fatalf("piece %d neither partial nor ended by a newline, and not last", i)
		}
		if len(raw) == 0 {
			t.Fatalf("empty piece %d", i)
		}
	}
}

func FuzzFramer(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), []byte{3, 5}, uint8(4))
	f.Add([]byte("no newline at end"), []byte{1, 1, 1}, uint8(3))
	f.Add([]byte("exactly4\n1234\n12345\n\n\n"), []byte{}, uint8(4))
	f.Add([]byte{0xff, 0xfe, 0, '\n', 0x80, 'a'}, []byte{2}, uint8(1))
	f.Add([]byte("€€€€€€€€€€€€€€€€€€€€\n"), []byte{7, 2}, uint8(9))
	f.Add([]byte("日本語のテキスト、中文文本\n😀😀😀😀\n"), []byte{5}, uint8(6))
	f.Add([]byte("a\xe2\x82\xe2\x82\xac\xf0\x9f\x98\n\xed\xa0\x80\xf4\x90\x80\x80"), []byte{}, uint8(4))
	f.Fuzz(func(t *testing.T, data []byte, splits []byte, max uint8) {
		maxLine := int(max%16) + 1
		reads := make([]int, len(splits))
		for i, s := range splits {
			reads[i] = int(s%32) + 1
		}
		raws, flags := frameAll(t, data, reads, maxLine, "")
		checkFramed(t, data, raws, flags, maxLine)
		// The records do not depend on how the bytes came in reads.
		if whole, _ := frameAll(t, data, nil, maxLine, ""); !slices.EqualFunc(raws, whole, bytes.Equal) {
			t.Fatalf("reads %v give pieces %q, one read %q", reads, raws, whole)
		}
		// Framed in runs, the lines are the same, however the reads came.
		if runs, runFlags := frameAll(t, data, reads, maxLine, "runs"); !slices.EqualFunc(raws, runs, bytes.Equal) || !slices.Equal(flags, runFlags) {
			t.Fatalf("in runs, reads %v give lines %q %v, line by line %q %v", reads, runs, runFlags, raws, flags)
		}
		// With Java joining, records still rebuild the input exactly.
		joined, _ := frameAll(t, data, reads, maxLine, "java")
		if got := bytes.Join(joined, nil); !bytes.Equal(got, data) {
			t.Fatalf("joined records do not rebuild the input:\n in %q\nout %q", data, got)
		}
	})
}

// A piece of a long line ends on a character boundary: the character the
// cut would split starts the next piece, so every piece of valid UTF-8
// text is valid UTF-8 itself.
func TestFramerCutsLongLinesBetweenCharacters(t *testing.T) {
	in := []byte(strings.Repeat("€", 20000) + "\n" + strings.Repeat("中文", 100) + "\n")
	raws, flags := frameAll(t, in, []int{4096, 1000, 7}, 16<<10, "")
	checkFramed(t, in, raws, flags, 16<<10)
	for i, raw := range raws {
		if !utf8.Valid(raw) {
			t.Fatalf("piece %d is not valid UTF-8: it ends with %q", i, raw[max(0, len(raw)-4):])
		}
	}
	if len(raws) != 5 || len(raws[0]) != 16383 || flags[0]&Partial == 0 {
		t.Fatalf("%d pieces, the first %d bytes; want 5, the first 16383 (16 KiB less the euro sign's first byte)", len(raws), len(raws[0]))
	}
	// Bytes that are not valid UTF-8 are cut where the limit falls.
	bad := append(bytes.Repeat([]byte{'a'}, 15), 0xe2, 0x82, 0x28, '\n')
	raws, _ = frameAll(t, bad, nil, 16, "")
	if len(raws[0]) != 16 {
		t.Fatalf("first piece %q; an invalid sequence must not move the cut", raws[0])
	}
}

func TestFramerSplitsLongLinesIntoPartialPieces(t *testing.T) {
	in := []byte(strings.Repeat("a", 10) + "\n" + "bbbb\n" + "cccc")
	raws, flags := frameAll(t, in, []int{3, 3, 3}, 4, "")
	want := []string{"aaaa", "aaaa", "aa\n", "bbbb\n", "cccc"}
	if len(raws) != len(want) {
		t.Fatalf("got %q", raws)
	}
	for i, w := range want {
		if string(raws[i]) != w {
			t.Fatalf("piece %d = %q, want %q", i, raws[i], w)
		}
	}
	if flags[0]&Partial == 0 || flags[1]&Partial == 0 || flags[2]&Partial != 0 || flags[3]&Partial != 0 {
		t.Fatalf("partial flags wrong: %v", flags)
	}
	if flags[4] != 0 {
		t.Fatalf("last line without newline: flags %b, want 0", flags[4])
	}
}

// BenchmarkFrame frames 1 MiB of 120-byte lines per op, as a capture
// frames a large read, line by line and in runs (with the count of lines
// the pipeline takes of each batch).
func BenchmarkFrame(b *testing.B) {
	var data []byte
	for i := 0; len(data)+120 <= 1<<20; i++ {
		line := fmt.Appendf(nil, "%012d ", i)
		data = append(data, line...)
		data = append(data, bytes.Repeat([]byte{'x'}, 120-len(line)-1)...)
		data = append(data, '\n')
	}
	recs := make([]Record, 0, len(data)/100)
	for _, runs := range []bool{false, true} {
		name := "lines"
		if runs {
			name = "runs"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				f := NewFramer(16<<10, "")
				if runs {
					f = NewRunFramer(16 << 10)
				}
				recs = f.Frame(data, recs[:0])
				// What the pipeline does with every batch of runs.
				_ = CountLines(data, 0, recs)
			}
		})
	}
}

// A capture whose sinks take runs frames the same lines as one that frames
// every line, with the sizes of lines and reads a capture meets: short
// lines in large reads, lines about half of MaxLine and a little over it
// (which the check of lengths must still find), lines longer than the
// search for a read's last newline, and lines cut into pieces.
func TestRunFramerFramesTheLinesOfTheLineFramer(t *testing.T) {
	const maxLine = 16 << 10
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name     string
		min, max int // line lengths
	}{
		{"short lines", 0, 200},
		{"about half of MaxLine", maxLine/2 - 2, maxLine/2 + 2},
		{"around MaxLine", maxLine - 3, maxLine + 3},
		{"longer than the tail search", runTail, 3 * runTail},
		{"any length up to three MaxLines", 0, 3 * maxLine},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in []byte
			for len(in) < 4<<20 {
				n := tc.min + rng.IntN(tc.max-tc.min+1)
				for range n {
					in = append(in, byte('a'+rng.IntN(26)))
				}
				in = append(in, '\n')
			}
			var reads []int
			for n := 0; n < len(in); {
				r := 1 + rng.IntN(1<<20)
				if rng.IntN(4) == 0 {
					r = 1 + rng.IntN(4096)
				}
				reads = append(reads, r)
				n += r
			}
			lines, flags := frameAll(t, in, reads, maxLine, "")
			runs, runFlags := frameAll(t, in, reads, maxLine, "runs")
			if !slices.EqualFunc(lines, runs, bytes.Equal) || !slices.Equal(flags, runFlags) {
				t.Fatalf("runs give %d lines, line by line %d", len(runs), len(lines))
			}
			checkFramed(t, in, runs, runFlags, maxLine)
		})
	}
}

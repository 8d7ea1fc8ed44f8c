package logship

import (
	"bytes"
	"strings"
	"testing"
)

// frameAll runs the framer the way a capture does: data arrives in reads
// of the given sizes; complete records leave; the rest moves to the front.
// It returns each record's raw bytes and flags.
func frameAll(t testing.TB, data []byte, reads []int, maxLine int, multiline string) (raws [][]byte, flags []uint8) {
	f := NewFramer(maxLine, multiline)
	var buf []byte
	var recs []Record
	emit := func() {
		for _, r := range recs {
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
		if partial && (len(msg) != maxLine || fl&Newline != 0) {
			t.Fatalf("piece %d partial but %d bytes, flags %b", i, len(msg), fl)
		}
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
	f.Fuzz(func(t *testing.T, data []byte, splits []byte, max uint8) {
		maxLine := int(max%16) + 1
		reads := make([]int, len(splits))
		for i, s := range splits {
			reads[i] = int(s%32) + 1
		}
		raws, flags := frameAll(t, data, reads, maxLine, "")
		checkFramed(t, data, raws, flags, maxLine)
		// With Java joining, records still rebuild the input exactly.
		joined, _ := frameAll(t, data, reads, maxLine, "java")
		if got := bytes.Join(joined, nil); !bytes.Equal(got, data) {
			t.Fatalf("joined records do not rebuild the input:\n in %q\nout %q", data, got)
		}
	})
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

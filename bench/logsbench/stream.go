package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// lineSize is the length of every numbered line, newline included, and
// digits the width of its number: line i is i in 12 decimal digits, a
// space, 'x' up to 119 bytes and a newline, whichever writer wrote it.
const (
	lineSize = 120
	digits   = 12
)

// stream is the bytes every writer writes: lines numbered from 0.
type stream struct {
	lines int64
}

// size is the length of the whole stream in bytes.
func (s stream) size() int64 { return s.lines * lineSize }

// lineGen produces the stream's lines in order from any line on; only the
// digits change from one line to the next.
type lineGen struct {
	line []byte
	next int64
}

func newLineGen(from int64) *lineGen {
	g := &lineGen{line: bytes.Repeat([]byte{'x'}, lineSize)}
	g.line[digits] = ' '
	g.line[lineSize-1] = '\n'
	g.seek(from)
	return g
}

// seek makes n the next line.
func (g *lineGen) seek(n int64) {
	g.next = n
	s := strconv.FormatInt(n, 10)
	for i := range digits {
		g.line[i] = '0'
	}
	copy(g.line[digits-len(s):digits], s)
}

// advance moves to the next line: one added to the ASCII number.
func (g *lineGen) advance() {
	g.next++
	for i := digits - 1; i >= 0; i-- {
		if g.line[i] != '9' {
			g.line[i]++
			return
		}
		g.line[i] = '0'
	}
}

// fillStream writes the stream's bytes from offset off into dst.
func fillStream(dst []byte, off int64) {
	g := newLineGen(off / lineSize)
	pos := int(off % lineSize)
	for len(dst) > 0 {
		n := copy(dst, g.line[pos:])
		dst = dst[n:]
		pos = 0
		g.advance()
	}
}

// compareStream reads r to EOF and checks that it holds exactly the
// stream's bytes from offset off on: nothing lost, added, changed or out
// of order. It returns the number of bytes read.
func compareStream(r io.Reader, off int64) (int64, error) {
	got := make([]byte, 1<<20)
	want := make([]byte, len(got))
	var read int64
	for {
		n, err := io.ReadFull(r, got)
		if n > 0 {
			fillStream(want[:n], off+read)
			if !bytes.Equal(got[:n], want[:n]) {
				i := 0
				for got[i] == want[i] {
					i++
				}
				return read, mismatch(off+read+int64(i), got[i:n])
			}
			read += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return read, nil
		}
		if err != nil {
			return read, err
		}
	}
}

// mismatch describes the first wrong byte, at stream offset at, with got
// holding what was found from there on.
func mismatch(at int64, got []byte) error {
	line := at / lineSize
	want := make([]byte, lineSize-at%lineSize)
	fillStream(want, at)
	if end := bytes.IndexByte(got, '\n'); end >= 0 {
		got = got[:end+1]
	}
	return fmt.Errorf("at byte %d (line %d, byte %d of it): got %q, want %q",
		at, line, at%lineSize, short(got), short(want))
}

// checkFile checks that the file at path holds the whole stream s, from
// its first line to its last.
func checkFile(path string, s stream) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := compareStream(f, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if n != s.size() {
		return fmt.Errorf("%s: %d bytes (%d lines and %d bytes), want %d lines", path, n, n/lineSize, n%lineSize, s.lines)
	}
	return nil
}

// checkJSON checks that the file at path holds one JSON object per line of
// the stream, in order, each ending with the line as its "message".
func checkJSON(path string, s stream) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	g := newLineGen(0)
	var suffix []byte
	for {
		rec, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("%s: after line %d: a record longer than 1 MiB", path, g.next)
		}
		if len(rec) > 0 {
			if g.next == s.lines {
				return fmt.Errorf("%s: a record after the last line: %q", path, short(rec))
			}
			suffix = append(append(append(suffix[:0], `"message":"`...), g.line[:lineSize-1]...), "\"}\n"...)
			if !bytes.HasSuffix(rec, suffix) {
				return fmt.Errorf("%s: record %d: got %q, want it to end with %q", path, g.next, short(rec), short(suffix))
			}
			g.advance()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if g.next != s.lines {
		return fmt.Errorf("%s: %d records, want %d", path, g.next, s.lines)
	}
	return nil
}

// short cuts b for an error message.
func short(b []byte) string {
	if len(b) > 60 {
		return string(b[:30]) + "..." + string(b[len(b)-20:])
	}
	return string(b)
}

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// numbered returns n lines of size bytes each, numbered from 0.
func numbered(n, size int) []byte {
	var b bytes.Buffer
	for i := range n {
		line := fmt.Sprintf("%012d ", i)
		b.WriteString(line + strings.Repeat("x", size-len(line)-1) + "\n")
	}
	return b.Bytes()
}

// feed returns the read end of a pipe that data is written to, in pieces
// that split lines, as a program's bufio would.
func feed(t *testing.T, data []byte) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for len(data) > 0 {
			n := min(len(data), 4093)
			w.Write(data[:n])
			data = data[n:]
		}
		w.Close()
	}()
	t.Cleanup(func() { r.Close() })
	return r
}

func TestFilesRotateAtLineEndsAndKeepTheNewest(t *testing.T) {
	dir := t.TempDir()
	data := numbered(10000, 120) // 1,200,000 bytes
	const rotate = 100000
	if err := files(feed(t, data), dir, rotate); err != nil {
		t.Fatal(err)
	}
	var kept []byte
	for n := 4; n >= 1; n-- {
		p, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("main.log.%d", n)))
		if err != nil {
			t.Fatal(err)
		}
		if len(p) > rotate || len(p) == 0 || p[len(p)-1] != '\n' {
			t.Fatalf("main.log.%d: %d bytes, want at most %d ending on a newline", n, len(p), rotate)
		}
		kept = append(kept, p...)
	}
	live, err := os.ReadFile(filepath.Join(dir, "main.log"))
	if err != nil {
		t.Fatal(err)
	}
	kept = append(kept, live...)
	if _, err := os.Stat(filepath.Join(dir, "main.log.5")); err == nil {
		t.Fatal("main.log.5 kept: want four rotated files")
	}
	if !bytes.HasSuffix(data, kept) || len(kept) < 4*(rotate-120) {
		t.Fatalf("the files hold %d bytes that are not the stream's last ones", len(kept))
	}
}

func TestJSONWrapsEveryLine(t *testing.T) {
	data := numbered(50000, 120)
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	if err := jsonLines(feed(t, data), out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for line := range bytes.Lines(data) {
		want.WriteString(jsonPrefix)
		want.Write(line[:len(line)-1])
		want.WriteString(jsonSuffix)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("json: %d bytes, want %d", len(got), want.Len())
	}
}

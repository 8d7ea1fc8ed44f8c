package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Each writer must write the same stream, cut into the write(2) calls of
// the program it stands for: what the benchmark claims to measure.

// wantWrites is the size of every write but the last, whose size is what
// is left.
func wantWrites(t *testing.T, w writer, st writeStats, s stream, size int) {
	t.Helper()
	full := int(s.size()) / size
	rest := int(s.size()) % size
	if st.sizes[size] != full || (rest > 0 && st.lastSize != rest) || st.writes != full+min(rest, 1) {
		t.Errorf("%s: writes %s, want %d of %d bytes and one of %d", w.name, st, full, size, rest)
	}
}

func TestGoWritersCutLinesAsTheirPrograms(t *testing.T) {
	b := &bench{gen: logsgen(t)}
	s := stream{lines: 10000}
	want := map[string]int{"lines": 65520, "bufio64k": 65536, "java8k": 8192, "stdio4k": 4096, "perline": 120}
	for _, w := range writers {
		if w.java {
			continue
		}
		st, err := measureWrites(w.argv(b, s.lines), s)
		if err != nil {
			t.Errorf("%s: %v", w.name, err)
			continue
		}
		wantWrites(t, w, st, s, want[w.name])
	}
}

func TestJVMWritersCutLinesAsTheirPrograms(t *testing.T) {
	javac := needTool(t, "javac")
	needTool(t, "java")
	classes := t.TempDir()
	out, err := exec.Command(javac, "-d", classes, filepath.Join("..", "java", "Writer.java")).CombinedOutput()
	if err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(classes, "Writer.class")); err != nil {
		t.Fatal(err)
	}
	b := &bench{javaDir: classes}
	s := stream{lines: 10000}
	// System.out flushes at every println; a PrintWriter over a
	// BufferedWriter writes 8,192 bytes at a time, as -writer java8k.
	want := map[string]int{"jvm": 120, "jvm-printwriter": 8192}
	for _, w := range writers {
		if !w.java {
			continue
		}
		st, err := measureWrites(w.argv(b, s.lines), s)
		if err != nil {
			t.Errorf("%s: %v", w.name, err)
			continue
		}
		wantWrites(t, w, st, s, want[w.name])
	}
}

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// The end-to-end tests rely on -done meaning "the lines are written": a
// buffering writer must flush before it says so, and before it holds.
func TestBufferingWritersFlushBeforeDoneAndHold(t *testing.T) {
	dir := t.TempDir()
	gen := filepath.Join(dir, "logsgen")
	if out, err := exec.Command("go", "build", "-o", gen, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var want []byte
	for i := 0; i < 10; i++ {
		want = fmt.Appendf(want, "%012d %s\n", i, bytes.Repeat([]byte{'x'}, 106))
	}
	for _, mode := range []string{"lines", "bufio64k", "java8k", "stdio4k", "perline"} {
		out := filepath.Join(dir, mode+".out")
		done := filepath.Join(dir, mode+".done")
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		// -wait keeps it from going on (and flushing again) until the
		// file has been read.
		proceed := filepath.Join(dir, mode+".proceed")
		cmd := exec.Command(gen, "-writer", mode, "-n", "10", "-done", done, "-wait", proceed, "-end", "end", "-hold")
		cmd.Stdout = f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		for {
			if _, err := os.Stat(done); err == nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		// Still running, waiting: the lines must be in the file now.
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("-writer %s: at -done the file holds %d bytes, want the 10 lines (%d bytes)", mode, len(got), len(want))
		}
		if err := os.WriteFile(proceed, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		// Holding: the last line must be there too.
		want := append(want, "end\n"...)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			got, err = os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(got, want) || time.Now().After(deadline) {
				break
			}
		}
		if !bytes.Equal(got, want) {
			t.Errorf("-writer %s: holding, the file holds %d bytes, want the 10 lines and \"end\" (%d bytes)", mode, len(got), len(want))
		}
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("-writer %s: %v", mode, err)
		}
	}
}

func TestUnknownWriterIsRefused(t *testing.T) {
	dir := t.TempDir()
	gen := filepath.Join(dir, "logsgen")
	if out, err := exec.Command("go", "build", "-o", gen, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(gen, "-writer", "stdio8k", "-n", "1").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !bytes.Contains(out, []byte(`-writer "stdio8k": want one of`)) {
		t.Errorf("got %v, %q; want exit 2 naming -writer, the value and the choices", err, out)
	}
}

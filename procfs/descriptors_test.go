package procfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// idOf returns the FileID of the file at path.
func idOf(t *testing.T, path string) FileID {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return IDOf(&st)
}

// A descriptor number closed and opened again on another file names the
// other file at the next Held, though the number was seen before.
func TestDescriptorsHeldSeesADescriptorNumberReusedForAnotherFile(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.log"), filepath.Join(dir, "second.log")
	a, err := os.OpenFile(first, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	keep := func(path string) bool { return strings.HasPrefix(path, dir+"/") }
	d := NewDescriptors()
	held := d.Held([]int{os.Getpid()}, keep, true)
	if h := held[idOf(t, first)]; h == nil || h.Path != first || len(h.Pids) != 1 || h.Pids[0] != os.Getpid() {
		t.Fatalf("Held does not show %s held by this process: %+v", first, held)
	}

	// The same number now names second.log.
	b, err := os.OpenFile(second, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Dup2(int(b.Fd()), int(a.Fd())); err != nil {
		t.Fatal(err)
	}
	b.Close()
	held = d.Held([]int{os.Getpid()}, keep, true)
	if held[idOf(t, first)] != nil {
		t.Errorf("Held still shows %s, whose descriptor now names %s", first, second)
	}
	if h := held[idOf(t, second)]; h == nil || h.Path != second {
		t.Errorf("Held does not show %s on the reused descriptor: %+v", second, held)
	}
}

// Opened reports a file a process opened for writing once, at the first
// call after it opened it; not a file opened for reading, nor one reported
// before; and nothing for a process gone.
func TestDescriptorsOpenedReportsOnlyWhatWasOpenedSince(t *testing.T) {
	dir := t.TempDir()
	first, later, read := filepath.Join(dir, "first.log"), filepath.Join(dir, "later.log"), filepath.Join(dir, "read.log")
	if err := os.WriteFile(read, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(dir, "ready")
	cmd := exec.Command("sh", "-c", `exec 3>>"$1"; while [ ! -e "$2" ]; do sleep 0.01; done; exec 4>>"$3" 5<"$4"; : > "$2.done"; sleep 30`,
		"sh", first, ready, later, read)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := []int{cmd.Process.Pid}
	keep := func(path string) bool { return strings.HasPrefix(path, dir+"/") }
	d := NewDescriptors()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(first); err == nil && d.Opened(pid, keep, true)[idOf(t, first)] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Opened never showed %s", first)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := d.Opened(pid, keep, true); len(got) != 0 {
		t.Fatalf("Opened reports again what it reported: %+v", got)
	}

	if err := os.WriteFile(ready, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for deadline = time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(ready + ".done"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the shell did not open its second file")
		}
	}
	opened := d.Opened(pid, keep, true)
	if len(opened) != 1 || opened[idOf(t, later)] == nil {
		t.Fatalf("Opened after the shell opened %s for writing and %s for reading: %+v, want %s alone", later, read, opened, later)
	}
	if h := opened[idOf(t, later)]; h.Flags&AccessMode != WriteOnly || h.Flags&Append == 0 {
		t.Errorf("flags of %s: %o, want write-only and append", later, h.Flags)
	}

	cmd.Process.Kill()
	cmd.Wait()
	if got := d.Opened(pid, keep, true); len(got) != 0 {
		t.Errorf("Opened reports files of a process gone: %+v", got)
	}
	if got := d.Held(pid, keep, true); len(got) != 0 {
		t.Errorf("Held reports files of a process gone: %+v", got)
	}
}

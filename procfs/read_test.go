package procfs

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestReadFileReadsAFileLargerThanItsFirstBuffer(t *testing.T) {
	want := bytes.Repeat([]byte("0123456789abcdef\n"), 1000) // 17,000 bytes
	path := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("ReadFile read %d bytes, want %d", len(got), len(want))
	}
}

func TestReadFileReadsAKernelFile(t *testing.T) {
	got, err := ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), " / ") {
		t.Errorf("mountinfo without the root mount: %.200q", got)
	}
}

func TestReadFileOfAMissingFileNamesItAndIsNotExist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gone")
	_, err := ReadFile(path)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadFile of a missing file: %v, want not-exist naming %s", err, path)
	}
}

// Open's descriptor is a plain one: blocking (Go's poller would make it
// non-blocking) and closed on exec, so that no program inherits it.
func TestOpenGivesABlockingDescriptorClosedOnExec(t *testing.T) {
	fd, err := Open("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fl&unix.O_NONBLOCK != 0 {
		t.Error("the descriptor is non-blocking")
	}
	fdfl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fdfl&unix.FD_CLOEXEC == 0 {
		t.Error("the descriptor is not closed on exec")
	}
}

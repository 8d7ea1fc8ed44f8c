package watchable

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tend/procfs"
)

func TestCheckRefusesPseudoFilesystemsAndSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	procLink := filepath.Join(dir, "self")
	if err := os.Symlink("/proc/self", procLink); err != nil {
		t.Fatal(err)
	}
	regular := filepath.Join(dir, "app.log")
	if err := os.WriteFile(regular, []byte("line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want error
	}{
		{"/proc", ErrPseudo},
		{"/proc/kmsg", ErrPseudo},
		{"/proc/not-there/app.log", ErrPseudo},
		{"/sys/kernel", ErrPseudo},
		{"/dev", ErrPseudo},
		{"/dev/app.log", ErrPseudo},
		{procLink, ErrPseudo},
		{"/dev/null", ErrNotRegular},
		{fifo, ErrNotRegular},
		{dir, nil},
		{regular, nil},
		{filepath.Join(dir, "later", "app.log"), nil},
	} {
		err := Check(c.path)
		if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("Check(%q) = %v, want %v", c.path, err, c.want)
		}
	}
}

func TestFilesystemsKnowsProcFromATempDirectory(t *testing.T) {
	var c Filesystems
	dev := func(path string) uint64 {
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		return st.Dev
	}
	if got := c.Pseudo("/proc", dev("/proc")); got != "proc" {
		t.Errorf("/proc is on %q, want proc", got)
	}
	dir := t.TempDir()
	if got := c.Pseudo(dir, dev(dir)); got != "" {
		t.Errorf("%s is on %q, want a filesystem of real files", dir, got)
	}
	// Remembered by device: /proc/self is proc without a second look.
	if got := c.Pseudo("/nonexistent", dev("/proc/self")); got != "proc" {
		t.Errorf("the device of /proc is not remembered: %q", got)
	}
}

func TestDevFSTellsWhatIsMountedAtDev(t *testing.T) {
	mounts := []procfs.Mount{
		{Dev: 1, Point: "/dev", FSType: "tmpfs"},
		{Dev: 2, Point: "/dev/shm", FSType: "tmpfs"},
		{Dev: 3, Point: "/host/dev", FSType: "devtmpfs"},
		{Dev: 4, Point: "/tmp", FSType: "tmpfs"},
	}
	for dev, want := range map[uint64]string{1: "devtmpfs", 2: "", 3: "devtmpfs", 4: "", 5: ""} {
		if got := devFS(mounts, dev); got != want {
			t.Errorf("device %d: %q, want %q", dev, got, want)
		}
	}
}

func TestOpenNeverBlocksOnAFIFOAndNeverFollowsALink(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "app.log")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		f, _, err := Open(fifo)
		if f != nil {
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) {
			t.Fatalf("Open of a FIFO: %v, want ErrNotRegular", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Open of a FIFO blocked")
	}
	link := filepath.Join(dir, "link.log")
	if err := os.Symlink("/etc/hostname", link); err != nil {
		t.Fatal(err)
	}
	if f, _, err := Open(link); err == nil {
		f.Close()
		t.Fatal("Open followed a symbolic link")
	}
	regular := filepath.Join(dir, "real.log")
	if err := os.WriteFile(regular, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, st, err := Open(regular)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if st.Size != 2 {
		t.Fatalf("stat of the file opened: size %d, want 2", st.Size)
	}
}

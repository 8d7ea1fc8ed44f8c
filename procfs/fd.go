package procfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// FileID names a file by device and inode, whatever its path.
type FileID struct{ Dev, Ino uint64 }

// IDOf returns the FileID of a stat result.
func IDOf(st *unix.Stat_t) FileID { return FileID{Dev: st.Dev, Ino: st.Ino} }

// Open-file flags as /proc/PID/fdinfo shows them (octal, as in open(2)).
const (
	AccessMode = 0o3    // the O_ACCMODE bits
	WriteOnly  = 0o1    // O_WRONLY
	ReadWrite  = 0o2    // O_RDWR
	Append     = 0o2000 // O_APPEND
)

// Writable reports whether a descriptor's flags allow writing.
func Writable(flags int64) bool {
	m := flags & AccessMode
	return m == WriteOnly || m == ReadWrite
}

// HeldFile is a regular file held open by some processes.
type HeldFile struct {
	Path string
	ID   FileID
	// Flags are the open flags of the first descriptor found (of a
	// writable one, when writable descriptors were asked for).
	Flags int64
	// Pids hold it open.
	Pids []int
}

// PipeWriters returns the processes, other than tend itself, that hold
// the pipe of inode ino open for writing, such as a grandchild that keeps
// a program's stdout open after the program exited. It compares the
// descriptors' links ("pipe:[INODE]") and reads the flags of matches only,
// so a scan of every process stays cheap.
func PipeWriters(ino uint64) []int {
	self := os.Getpid()
	want := "pipe:[" + strconv.FormatUint(ino, 10) + "]"
	var pids []int
	for _, pid := range Pids() {
		if pid == self {
			continue
		}
		dir := fmt.Sprintf("%s/%d/fd", root, pid)
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if link, err := os.Readlink(dir + "/" + e.Name()); err != nil || link != want {
				continue
			}
			if flags, ok := FDFlags(pid, e.Name()); ok && Writable(flags) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// FDFlags reads the open flags of one descriptor from /proc/PID/fdinfo.
func FDFlags(pid int, fd string) (int64, bool) {
	data, err := ReadFile(fmt.Sprintf("%s/%d/fdinfo/%s", root, pid, fd))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// OpenCount returns how many descriptors process pid has open. Linux 6.2
// and later give the count as the size of /proc/PID/fd, one stat(2)
// however many there are; older kernels say 0 there, and the directory is
// listed. ok is false when the process is gone or cannot be read.
func OpenCount(pid int) (n int, ok bool) {
	dir := root + "/" + strconv.Itoa(pid) + "/fd"
	var st unix.Stat_t
	if unix.Stat(dir, &st) != nil {
		return 0, false
	}
	if st.Size > 0 {
		return int(st.Size), true
	}
	f, err := os.Open(dir)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	for {
		names, err := f.Readdirnames(256)
		n += len(names)
		if errors.Is(err, io.EOF) {
			return n, true
		}
		if err != nil {
			return n, false
		}
	}
}

package procfs

import (
	"errors"
	"io/fs"
	"syscall"
)

// ReadFile reads the whole of a small kernel file (under /proc, /sys or a
// cgroup filesystem) through a plain descriptor.
//
// os.ReadFile would hand the descriptor to Go's poller first. Many such
// files can be polled (mountinfo, a cgroup's memory files, sysctls), and
// each is ready at once: the poller's registration then wakes the thread
// that waits in it, on another CPU, for nothing. tend reads several of
// these files at every start, beside the start of its first program. A
// read of such a file never blocks, so nothing is lost by reading it
// directly.
func ReadFile(path string) ([]byte, error) {
	return ReadInto(nil, path)
}

// ReadInto is ReadFile appending to buf, so that a caller reading the same
// kind of file again and again can keep one buffer.
func ReadInto(buf []byte, path string) ([]byte, error) {
	fd, err := Open(path)
	if err != nil {
		return buf, err
	}
	defer syscall.Close(fd)
	if cap(buf) == 0 {
		buf = make([]byte, 0, 4<<10)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return buf, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// Open opens a kernel file for reading through a plain descriptor, outside
// Go's poller (see ReadFile), and closed on exec. The caller closes it with
// syscall.Close.
func Open(path string) (int, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

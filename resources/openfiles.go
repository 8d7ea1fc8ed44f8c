package resources

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"syscall"

	"tend/procfs"
)

// openFiles reads files through descriptors it keeps open, each time
// from the start (pread at offset 0).
//
// This is for the cgroup files tend reads again and again while memory is
// short. The kernel formats such a file into a buffer it allocates on the
// first read and keeps with the open file; that buffer is charged to the
// reader's cgroup. Opening the file afresh for every reading charges it
// again each time, and right after an OOM kill, while the victim's memory
// is still charged and the victim already gone from the cgroup's task
// list, that charge makes the kernel kill again: tend, as the only
// process left to pick (seen with a JVM in a 64 MiB container). Kept
// open, a file costs nothing more after its first reading.
//
// The descriptors are plain ones, outside Go's poller (procfs.Open): a
// cgroup's memory files can be polled and are always ready, so the
// poller's registration of each would wake its waiting thread for
// nothing, five times at every start. o.mu guards every use of them.
type openFiles struct {
	mu      sync.Mutex
	files   map[string]int
	missing map[string]bool
	buf     []byte
	closed  bool
}

func newOpenFiles() *openFiles {
	return &openFiles{files: map[string]int{}, missing: map[string]bool{}, buf: make([]byte, 8<<10)}
}

// close closes every file; later readings open and close theirs.
func (o *openFiles) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, fd := range o.files {
		syscall.Close(fd)
	}
	o.files, o.closed = nil, true
}

// number reads the file at path as one number ("max" and other words:
// ok is false), without allocating.
func (o *openFiles) number(path string) (n int64, ok bool, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b, err := o.readLocked(path)
	if err != nil {
		return 0, false, err
	}
	n, ok = parseNumber(bytes.TrimSpace(b))
	return n, ok, nil
}

// keyed reads the file at path, of "key value" lines, and sets out[i] to
// the value of keys[i] (-1 when the file has no such line), without
// allocating.
func (o *openFiles) keyed(path string, keys []string, out []int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	b, err := o.readLocked(path)
	if err != nil {
		return err
	}
	for i := range out {
		out[i] = -1
	}
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		k, v, found := bytes.Cut(line, []byte{' '})
		if !found {
			continue
		}
		for i, key := range keys {
			if string(k) == key {
				if n, ok := parseNumber(bytes.TrimSpace(v)); ok {
					out[i] = n
				}
			}
		}
	}
	return nil
}

// readLocked reads the whole of the file at path into o.buf and returns
// that part of it; o.mu is held.
func (o *openFiles) readLocked(path string) ([]byte, error) {
	fd, ok := o.files[path]
	if !ok {
		if o.missing[path] {
			return nil, os.ErrNotExist
		}
		var err error
		if fd, err = procfs.Open(path); err != nil {
			if errors.Is(err, os.ErrNotExist) && !o.closed {
				// An optional file (memory.events.local before Linux
				// 5.2) is not looked for again at every reading.
				o.missing[path] = true
			}
			return nil, err
		}
		if o.closed {
			defer syscall.Close(fd)
		} else {
			o.files[path] = fd
		}
	}
	n, err := o.preadAll(fd)
	if err != nil {
		// A file whose cgroup went away reads as an error for good:
		// the next reading opens it again.
		if !o.closed {
			syscall.Close(fd)
			delete(o.files, path)
		}
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return o.buf[:n], nil
}

// preadAll reads the file open as fd from its start into o.buf, growing
// the buffer until the whole file fits, and returns how much it read.
func (o *openFiles) preadAll(fd int) (int, error) {
	for {
		n := 0
		for n < len(o.buf) {
			m, err := syscall.Pread(fd, o.buf[n:], int64(n))
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			if err != nil {
				return 0, err
			}
			if m == 0 {
				return n, nil
			}
			n += m
		}
		// A full buffer may hold only the start of the file.
		o.buf = make([]byte, 2*len(o.buf))
	}
}

// parseNumber reads a decimal number that is all of b.
func parseNumber(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rotationWatch follows a rotating logger's directory while it writes, so
// that every byte the logger wrote can be accounted for even though it
// deletes its oldest files as it goes. The logger writes a live file
// (tend's main.log, s6-log's and svlogd's current, supervisord's
// stdout_logfile) and rotates it by renaming it away, then creates a new
// one.
//
// On each creation of the live file the watch opens it and holds it; when
// the live file is renamed away, the held file is complete: its size and
// its first and last line are taken, and it is closed (long before the
// logger deletes it, so the logger still pays for freeing it). At the end
// the files put end to end must be the whole stream: each file's first
// and last bytes where the sizes before it place them, and the sizes
// adding up to the stream's. Files still on disk at the end are compared
// in full.
type rotationWatch struct {
	dir, live string
	fd        int
	done      chan struct{}

	mu    sync.Mutex
	files []*rotated // every live file seen, oldest first
	held  *os.File   // the live file now
	err   error      // the watch fell behind or failed
	notes []string   // what made the watch less sure to keep up
}

// rotated is one live file the logger wrote, in the order written.
type rotated struct {
	ino        uint64
	size       int64
	head, tail []byte // up to one line from its start and its end
}

// errFellBehind is a watch that could not keep up with the logger's
// rotations: a file rotated away before the watch held it. What the watch
// saw then says nothing of the logger, and the run is no measure.
var errFellBehind = errors.New("the watch fell behind the logger")

// stopName is created in the directory to end the watch: inotify reports
// events in order, so everything before it has been seen.
const stopName = ".logsbench-stop"

// watchRotation starts watching dir, whose live file is named live. dir
// must exist; the logger must not have started.
func watchRotation(dir, live string) (*rotationWatch, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CREATE|syscall.IN_MOVED_FROM|syscall.IN_MOVED_TO); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("inotify_add_watch %s: %w", dir, err)
	}
	w := &rotationWatch{dir: dir, live: live, fd: fd, done: make(chan struct{})}
	go w.run()
	return w, nil
}

// run reads events until the stop file appears.
func (w *rotationWatch) run() {
	defer close(w.done)
	// A new live file must be opened before the logger renames it away,
	// which a fast logger does within tens of milliseconds: on a loaded
	// machine an ordinary thread can wait longer than that for a CPU.
	// This thread does a few system calls per rotation; a real-time
	// priority gets it a CPU at once. The thread is never unlocked, so it
	// ends with this goroutine and its priority with it.
	runtime.LockOSThread()
	realtime := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 10}
	if err := unix.SchedSetAttr(0, &realtime, 0); err != nil {
		w.notes = append(w.notes, fmt.Sprintf("no real-time priority for the watch (%v): it may fall behind on a loaded machine", err))
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := syscall.Read(w.fd, buf)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			w.fail(fmt.Errorf("reading inotify events: %w", err))
			return
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(ev.Len)]
			name := string(bytes.TrimRight(nameBytes, "\x00"))
			off += syscall.SizeofInotifyEvent + int(ev.Len)
			switch {
			case ev.Mask&syscall.IN_Q_OVERFLOW != 0:
				w.fail(fmt.Errorf("inotify queue overflow: %w", errFellBehind))
			case name == stopName:
				return
			case name != w.live:
			case ev.Mask&(syscall.IN_CREATE|syscall.IN_MOVED_TO) != 0:
				w.opened()
			case ev.Mask&syscall.IN_MOVED_FROM != 0:
				w.closed()
			}
		}
	}
}

// opened holds the new live file.
func (w *rotationWatch) opened() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.held != nil {
		w.failLocked(fmt.Errorf("%s created again before it was rotated", w.live))
		return
	}
	f, err := os.Open(filepath.Join(w.dir, w.live))
	if err != nil {
		// Rotated away already: the watch fell behind, which says
		// nothing of the logger.
		w.failLocked(fmt.Errorf("%w: %w", errFellBehind, err))
		return
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		w.failLocked(err)
		return
	}
	// Falling behind shows as the same file opened for two creations in
	// a row. (Only the last one counts: the file system reuses the inode
	// numbers of deleted files, and the one before is never deleted yet.)
	if n := len(w.files); n > 0 && w.files[n-1].ino == st.Ino {
		f.Close()
		w.failLocked(fmt.Errorf("%w: one %s seen created twice", errFellBehind, w.live))
		return
	}
	w.held = f
	w.files = append(w.files, &rotated{ino: st.Ino})
}

// closed takes what is needed of the live file that was rotated away.
func (w *rotationWatch) closed() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.held == nil {
		if w.err == nil {
			w.failLocked(fmt.Errorf("%s rotated before its creation was seen", w.live))
		}
		return
	}
	if err := w.files[len(w.files)-1].take(w.held); err != nil {
		w.failLocked(err)
	}
	w.held.Close()
	w.held = nil
}

// take records f's size, head and tail.
func (r *rotated) take(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	r.size = st.Size()
	n := min(r.size, lineSize)
	r.head = make([]byte, n)
	r.tail = make([]byte, n)
	if _, err := f.ReadAt(r.head, 0); err != nil && err != io.EOF {
		return err
	}
	if _, err := f.ReadAt(r.tail, r.size-n); err != nil && err != io.EOF {
		return err
	}
	return nil
}

func (w *rotationWatch) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failLocked(err)
}

func (w *rotationWatch) failLocked(err error) {
	if w.err == nil {
		w.err = err
	}
}

// stop ends the watch once the logger has exited (or, for a logger that
// keeps running, once all bytes are written).
func (w *rotationWatch) stop() {
	stopFile := filepath.Join(w.dir, stopName)
	if f, err := os.Create(stopFile); err == nil {
		f.Close()
	} else {
		w.fail(err)
		// Without the stop event the reader would block forever.
		syscall.Close(w.fd)
	}
	<-w.done
	os.Remove(stopFile)
	syscall.Close(w.fd)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.held != nil {
		if err := w.files[len(w.files)-1].take(w.held); err != nil {
			w.failLocked(err)
		}
		w.held.Close()
		w.held = nil
	}
}

// written returns the bytes written so far: the rotated files' sizes and
// the live file's, for a logger that does not exit when its program does.
func (w *rotationWatch) written() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var n int64
	for _, r := range w.files {
		n += r.size
	}
	if w.held != nil {
		if st, err := w.held.Stat(); err == nil {
			n += st.Size()
		}
	}
	return n
}

// check runs after stop: the files the logger wrote, end to end, must be
// the stream s. It returns how many files were written and how many of
// them were still on disk to be compared in full.
func (w *rotationWatch) check(s stream) (files, kept int, err error) {
	if w.err != nil {
		return 0, 0, fmt.Errorf("rotation watch on %s: %w", w.dir, w.err)
	}
	if len(w.files) == 0 {
		return 0, 0, fmt.Errorf("%s: no %s was ever created", w.dir, w.live)
	}
	onDisk, err := filesByInode(w.dir)
	if err != nil {
		return 0, 0, err
	}
	// The file system reuses a deleted file's inode number for a new file:
	// an inode on disk is the newest file written with that number.
	paths := make([]string, len(w.files))
	for i := len(w.files) - 1; i >= 0; i-- {
		if path, ok := onDisk[w.files[i].ino]; ok {
			paths[i] = path
			delete(onDisk, w.files[i].ino)
		}
	}
	var off int64
	for i, r := range w.files {
		where := fmt.Sprintf("file %d of %d written to %s (%d bytes)", i+1, len(w.files), w.dir, r.size)
		if off+r.size > s.size() {
			return 0, 0, fmt.Errorf("%s: the files hold %d bytes or more, the stream has %d", where, off+r.size, s.size())
		}
		if path := paths[i]; path != "" {
			f, err := os.Open(path)
			if err != nil {
				return 0, 0, err
			}
			n, err := compareStream(f, off)
			f.Close()
			if err == nil && n != r.size {
				err = fmt.Errorf("%d bytes now, %d when rotated", n, r.size)
			}
			if err != nil {
				return 0, 0, fmt.Errorf("%s, %s: %w", where, filepath.Base(path), err)
			}
			kept++
		} else {
			if err := expectAt(r.head, off); err != nil {
				return 0, 0, fmt.Errorf("%s, its start: %w", where, err)
			}
			if err := expectAt(r.tail, off+r.size-int64(len(r.tail))); err != nil {
				return 0, 0, fmt.Errorf("%s, its end: %w", where, err)
			}
		}
		off += r.size
	}
	if off != s.size() {
		return 0, 0, fmt.Errorf("%s: %d files hold %d bytes (%d lines), want %d lines", w.dir, len(w.files), off, off/lineSize, s.lines)
	}
	return len(w.files), kept, nil
}

// expectAt checks that b is the stream's bytes at offset off.
func expectAt(b []byte, off int64) error {
	want := make([]byte, len(b))
	fillStream(want, off)
	if bytes.Equal(b, want) {
		return nil
	}
	i := 0
	for b[i] == want[i] {
		i++
	}
	return mismatch(off+int64(i), b[i:])
}

// filesByInode maps the inode of each regular file in dir to its path.
func filesByInode(dir string) (map[uint64]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	m := make(map[uint64]string, len(ents))
	for _, e := range ents {
		path := filepath.Join(dir, e.Name())
		var st syscall.Stat_t
		if err := syscall.Lstat(path, &st); err != nil {
			return nil, err
		}
		if st.Mode&syscall.S_IFMT == syscall.S_IFREG {
			m[st.Ino] = path
		}
	}
	return m, nil
}

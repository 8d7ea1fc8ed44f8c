package logship

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// errStopped is what a read returns once the capture was stopped.
var errStopped = errors.New("logship: capture stopped")

// source is what a capture reads: a pipe (pipeReader), or any other
// reader (readerSource).
type source interface {
	// Read reads into buf. It waits until bytes come, EOF (io.EOF), the
	// deadline (os.ErrDeadlineExceeded; zero: none), or interrupt
	// (errStopped, also for every Read after it).
	Read(buf []byte, deadline time.Time) (int, error)
	// pause waits d before the next Read, or less when interrupted.
	pause(d time.Duration)
	// capacity is the pipe's buffer in bytes; 0 when not a pipe (then a
	// capture never pauses).
	capacity() int
	// interrupt ends a Read waiting now, and every later Read, from any
	// goroutine.
	interrupt()
	// close releases the source; the reading goroutine calls it once, at
	// the end.
	close()
	// writers lists the processes that hold the pipe's write end open.
	writers() []int
}

// pipeReader reads a pipe with poll(2) of its own, outside Go's network
// poller. The poller keeps every pipe in its epoll set for good, and epoll
// wakes it at every write the program makes, even while the capture
// deliberately waits before its next read (coalesceDelay) to take many
// small writes in one read: the wake-ups the wait is there to save would
// all still happen. Here a capture that is not reading is not woken.
//
// A Read blocks its goroutine's thread in ppoll (the Go runtime hands the
// thread's processor to other goroutines meanwhile), as cat blocks in
// read(2); an eventfd wakes it for interrupt.
//
// But for the first wait: until the program first writes (or exits) the
// capture waits in Go's poller, through the os.File it was given, which is
// closed (and so leaves the poller) once the pipe can be read or the first
// bytes are read. A program that never writes to a stream, or has not
// yet, then holds no thread of tend's: each such thread costs its
// creation and its end at every start (about 0.1 ms here).
type pipeReader struct {
	fd   int    // read end of the pipe, non-blocking; owned
	wake int    // eventfd written by interrupt; owned
	ino  uint64 // the pipe's inode, to find who holds its write end
	size int    // the pipe's buffer

	// first is the pipe's os.File until the first wait ends or the first
	// bytes are read (then nil). The reading goroutine sets it, under mu;
	// interrupt reads it under mu.
	first *os.File

	// drained: the last read took what the pipe held, so the next one
	// waits for more first rather than read(2) to get EAGAIN.
	drained bool

	stopped atomic.Bool
	mu      sync.Mutex // orders interrupt against close, so that interrupt never writes to a closed (and reused) descriptor
	closed  bool
}

// openPipe takes over f when it is a pipe: it keeps a duplicate of f's
// descriptor, closes f (which takes it out of Go's poller), and grows the
// pipe's buffer to pipeSize when the kernel allows. It returns nil, with f
// untouched, when f is not a pipe or a step fails.
func openPipe(f *os.File) *pipeReader {
	raw, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	p := &pipeReader{fd: -1, wake: -1}
	cerr := raw.Control(func(fd uintptr) {
		ino, ok := pipeInode(fd)
		if !ok {
			return
		}
		p.ino = ino
		p.fd, err = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			p.fd = -1
		}
	})
	if cerr != nil || p.fd < 0 {
		return nil
	}
	p.wake, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(p.fd)
		return nil
	}
	// O_NONBLOCK belongs to the read end's open file description only: the
	// program's write end stays as it is.
	if err := unix.SetNonblock(p.fd, true); err != nil {
		unix.Close(p.fd)
		unix.Close(p.wake)
		return nil
	}
	p.size = growPipe(p.fd)
	p.first = f
	return p
}

// GrowPipe gives f, when it is a pipe (tend's stdout as a container
// runtime hands it over, say), a kernel buffer of 1 MiB, as a capture
// gives the pipes it reads: a reader that takes the output in bursts then
// stalls the writer at every MiB rather than at every 64 KiB. It returns
// the buffer's size, 0 when f is not a pipe. The kernel may refuse (see
// growPipe); f is left as it was then.
func GrowPipe(f *os.File) int {
	raw, err := f.SyscallConn()
	if err != nil {
		return 0
	}
	size := 0
	raw.Control(func(fd uintptr) {
		if _, ok := pipeInode(fd); ok {
			size = growPipe(int(fd))
		}
	})
	return size
}

// pipeInode returns the inode of the pipe fd, and false when fd is not a
// pipe.
func pipeInode(fd uintptr) (uint64, bool) {
	var st unix.Stat_t
	if unix.Fstat(int(fd), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return 0, false
	}
	return st.Ino, true
}

// growPipe asks for a kernel buffer of pipeSize bytes for the pipe fd and
// returns the buffer's size. When the kernel refuses (the user's pipe
// limits: fs.pipe-max-size, fs.pipe-user-pages-soft), the pipe keeps the
// buffer it has.
func growPipe(fd int) int {
	size, err := unix.FcntlInt(uintptr(fd), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		return 0
	}
	if size < pipeSize {
		if n, err := unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, pipeSize); err == nil {
			size = n
		}
	}
	return size
}

func (p *pipeReader) Read(buf []byte, deadline time.Time) (int, error) {
	for {
		if p.stopped.Load() {
			return 0, errStopped
		}
		if p.drained {
			p.drained = false
			if err := p.wait(deadline); err != nil {
				return 0, err
			}
		}
		n, err := unix.Read(p.fd, buf)
		switch {
		case n > 0:
			p.drained = n < len(buf)
			if p.first != nil {
				// Written to: the poller's wake-ups at every write would
				// cost more from here than the thread.
				p.closeFirst()
			}
			return n, nil
		case err == nil:
			return 0, io.EOF
		case err == unix.EINTR:
			continue
		case err != unix.EAGAIN:
			return 0, &os.PathError{Op: "read", Path: "pipe", Err: err}
		}
		p.drained = true
	}
}

// wait blocks until the pipe can be read (or its last writer is gone), the
// deadline passes, or interrupt.
func (p *pipeReader) wait(deadline time.Time) error {
	p.mu.Lock()
	first := p.first
	p.mu.Unlock()
	if first != nil {
		return p.waitFirst(first, deadline)
	}
	fds := [2]unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}, {Fd: int32(p.wake), Events: unix.POLLIN}}
	for {
		var ts *unix.Timespec
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return os.ErrDeadlineExceeded
			}
			t := unix.NsecToTimespec(int64(left))
			ts = &t
		}
		n, err := unix.Ppoll(fds[:], ts, nil)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return &os.PathError{Op: "poll", Path: "pipe", Err: err}
		case fds[1].Revents != 0:
			return errStopped
		case n == 0:
			return os.ErrDeadlineExceeded
		}
		return nil
	}
}

// waitFirst is wait in Go's poller, through the pipe's os.File, which it
// closes once the pipe can be read (or at the deadline, or interrupt):
// later waits are ppoll's.
func (p *pipeReader) waitFirst(f *os.File, deadline time.Time) error {
	raw, err := f.SyscallConn()
	if err == nil {
		f.SetReadDeadline(deadline)
		// interrupt sets stopped before its own deadline: if it came
		// before the line above, stopped says so now.
		if p.stopped.Load() {
			err = errStopped
		}
	}
	if err == nil {
		// The poller forgets what it saw before the wait begins, so the
		// pipe is asked first: a program may have written and exited
		// already. Returning false waits for the poller's next word.
		err = raw.Read(func(fd uintptr) bool {
			fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds[:], 0)
			return n > 0 || (err != nil && err != unix.EINTR)
		})
	}
	p.closeFirst()
	switch {
	case p.stopped.Load():
		return errStopped
	case errors.Is(err, os.ErrDeadlineExceeded):
		return os.ErrDeadlineExceeded
	case err != nil && !errors.Is(err, os.ErrClosed):
		return &os.PathError{Op: "poll", Path: "pipe", Err: err}
	}
	return nil
}

// closeFirst closes the pipe's os.File, which takes it out of Go's poller;
// the reading goroutine calls it.
func (p *pipeReader) closeFirst() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.first != nil {
		p.first.Close()
		p.first = nil
	}
}

func (p *pipeReader) pause(d time.Duration) {
	fds := [1]unix.PollFd{{Fd: int32(p.wake), Events: unix.POLLIN}}
	ts := unix.NsecToTimespec(int64(d))
	unix.Ppoll(fds[:], &ts, nil)
	// Whatever came meanwhile is read at once.
	p.drained = false
}

func (p *pipeReader) capacity() int { return p.size }

func (p *pipeReader) interrupt() {
	p.stopped.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.first != nil {
		// A first wait in Go's poller ends at a deadline in the past.
		p.first.SetReadDeadline(time.Unix(1, 0))
	}
	if !p.closed {
		one := [8]byte{1}
		unix.Write(p.wake, one[:])
	}
}

func (p *pipeReader) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		if p.first != nil {
			p.first.Close()
			p.first = nil
		}
		unix.Close(p.fd)
		unix.Close(p.wake)
	}
}

func (p *pipeReader) writers() []int { return pipeWriters(p.ino) }

// readerSource is a source over any reader, such as a pipe the kernel
// would not let openPipe take: Go's own reads, with read deadlines when
// the reader has them.
type readerSource struct {
	r         io.ReadCloser
	dl        interface{ SetReadDeadline(time.Time) error }
	armed     time.Time // the deadline set on r
	closeOnce sync.Once
}

func newReaderSource(r io.ReadCloser) *readerSource {
	s := &readerSource{r: r}
	s.dl, _ = r.(interface{ SetReadDeadline(time.Time) error })
	return s
}

func (s *readerSource) Read(buf []byte, deadline time.Time) (int, error) {
	if s.dl != nil && !deadline.Equal(s.armed) {
		if s.dl.SetReadDeadline(deadline) == nil {
			s.armed = deadline
		}
	}
	n, err := s.r.Read(buf)
	if err != nil && errors.Is(err, os.ErrClosed) {
		err = errStopped
	}
	return n, err
}

func (s *readerSource) pause(time.Duration) {}
func (s *readerSource) capacity() int       { return 0 }
func (s *readerSource) interrupt()          { s.close() } // closing an *os.File wakes a Read blocked on it
func (s *readerSource) close()              { s.closeOnce.Do(func() { s.r.Close() }) }

func (s *readerSource) writers() []int {
	sc, ok := s.r.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var ino uint64
	raw.Control(func(fd uintptr) {
		var st unix.Stat_t
		if unix.Fstat(int(fd), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFIFO {
			ino = st.Ino
		}
	})
	return pipeWriters(ino)
}

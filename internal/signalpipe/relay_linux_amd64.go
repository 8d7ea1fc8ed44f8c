//go:build linux && amd64

package signalpipe

import (
	"errors"
	"fmt"
	"iter"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// writeEnd is the pipe's write end, which the handler (handler_amd64.s)
// writes each signal's number to: a handler has no other way to find it.
// It is set once, before the first handler is installed, and never
// changes.
//
//lint:ignore U1000 read by the handler, in handler_amd64.s
var writeEnd int64 = -1

// handler is the assembly the kernel calls for a relayed signal
// (handler_amd64.s).
//
//lint:ignore U1000 called by the kernel
func handler()

// restorer is the assembly the handler returns to, which makes the
// rt_sigreturn(2) call (handler_amd64.s).
//
//lint:ignore U1000 called by the kernel
func restorer()

// entryPoints returns the addresses of handler and restorer, for
// rt_sigaction(2).
func entryPoints() (handler, restorer uintptr)

// kernelSigaction is struct sigaction as rt_sigaction(2) takes it on
// x86-64.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// The flags the Go runtime installs its own handlers with: on the
// thread's signal stack (goroutine stacks are small), interrupted system
// calls restarted, and the restorer given, which x86-64 requires.
const (
	saSiginfo  = 0x4
	saOnstack  = 0x8000000
	saRestorer = 0x4000000
	saRestart  = 0x10000000
)

// sigaction installs act for sig, unless act is nil, and returns what
// was there.
func sigaction(sig syscall.Signal, act *kernelSigaction) (kernelSigaction, error) {
	var old kernelSigaction
	_, _, errno := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig),
		uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(&old)), unsafe.Sizeof(old.mask), 0, 0)
	if errno != 0 {
		return old, fmt.Errorf("rt_sigaction %v: %w", sig, errno)
	}
	return old, nil
}

// relay is the process's relay: its pipe, who asked for which signal,
// and the handlers its own replaced.
type relay struct {
	mu       sync.Mutex
	read     *os.File
	wanted   map[syscall.Signal][]chan<- os.Signal
	replaced map[syscall.Signal]kernelSigaction
	// pending is, per channel, what it was full for (see deliver).
	pending map[chan<- os.Signal]signalSet
}

// retryInterval is how often a full channel is offered again what waits
// for it.
const retryInterval = 5 * time.Millisecond

// process is the one relay; signal dispositions are the process's.
var process relay

// Notify relays each of sigs to c from now on. A signal that arrives
// while c is full waits, one of each kind, until c has room (os/signal
// drops it). It fails, having installed nothing, when a signal may not be
// relayed; should the pipe not be made, os/signal takes the signals.
func Notify(c chan<- os.Signal, sigs ...syscall.Signal) error {
	if err := check(sigs, relayable); err != nil {
		return err
	}
	process.mu.Lock()
	defer process.mu.Unlock()
	if !process.ready() {
		osNotify(c, sigs)
		return nil
	}
	for _, sig := range sigs {
		// c is added first: the handler can fire as soon as it is in.
		if !slices.Contains(process.wanted[sig], c) {
			process.wanted[sig] = append(process.wanted[sig], c)
		}
		if err := process.install(sig); err != nil {
			return err
		}
	}
	return nil
}

// Stop relays nothing more to c. The handlers stay: a signal nobody
// wants is read from the pipe and dropped.
func Stop(c chan<- os.Signal) {
	signal.Stop(c) // if os/signal took c's signals (see Notify)
	process.mu.Lock()
	defer process.mu.Unlock()
	for sig, cs := range process.wanted {
		process.wanted[sig] = slices.DeleteFunc(cs, func(x chan<- os.Signal) bool { return x == c })
	}
	delete(process.pending, c)
}

// Ignore drops each of sigs, SIGPIPE included, without the disposition
// being passed on to programs. os/signal's Ignore sets SIG_IGN, which a
// program inherits through exec (a program started with SIGPIPE ignored
// misbehaves in a shell pipeline); here the Go runtime is told the
// signals are ignored, so that a write to a closed stdout returns EPIPE
// rather than end the process, and the relay's handler takes the place
// of the SIG_IGN that leaves, which exec resets to the default. A signal
// Notify relayed is relayed no more.
func Ignore(sigs ...syscall.Signal) error {
	if err := check(sigs, ignorable); err != nil {
		return err
	}
	process.mu.Lock()
	defer process.mu.Unlock()
	if !process.ready() {
		osIgnore(sigs)
		return nil
	}
	for _, sig := range sigs {
		// What Reset puts back is the handler from before the relay's
		// first, or before signal.Ignore set SIG_IGN.
		before, replaced := process.replaced[sig]
		if !replaced {
			var err error
			if before, err = sigaction(sig, nil); err != nil {
				return err
			}
		}
		signal.Ignore(sig)
		if _, err := putHandler(sig); err != nil {
			return err
		}
		process.replaced[sig] = before
		delete(process.wanted, sig)
	}
	return nil
}

// ready reports whether the relay's pipe is there, making it on first
// use; r.mu is held.
func (r *relay) ready() bool {
	return r.read != nil || r.open() == nil
}

// install puts the relay's handler in for sig, once.
func (r *relay) install(sig syscall.Signal) error {
	if _, done := r.replaced[sig]; done {
		return nil
	}
	old, err := putHandler(sig)
	if err != nil {
		return err
	}
	r.replaced[sig] = old
	return nil
}

// putHandler installs the relay's handler for sig and returns what was
// there.
func putHandler(sig syscall.Signal) (kernelSigaction, error) {
	h, res := entryPoints()
	return sigaction(sig, &kernelSigaction{handler: h, flags: saSiginfo | saOnstack | saRestorer | saRestart, restorer: res, mask: ^uint64(0)})
}

// Reset puts back the handlers Notify and Ignore replaced (the Go
// runtime's) and relays nothing more. A signal Ignore took stays ignored
// by the runtime. Tests use it; tend keeps its handlers to the end.
func Reset() error {
	process.mu.Lock()
	defer process.mu.Unlock()
	var errs []error
	for sig, old := range process.replaced {
		if _, err := sigaction(sig, &old); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(process.replaced, sig)
	}
	clear(process.wanted)
	clear(process.pending)
	return errors.Join(errs...)
}

// open makes the pipe and starts the goroutine that reads it. The write
// end never blocks (a full pipe drops the signal rather than hang the
// handler); the read end waits in the runtime's poller, not on a thread.
func (r *relay) open() error {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return fmt.Errorf("signal pipe: %w", err)
	}
	r.read = os.NewFile(uintptr(fds[0]), "signal pipe")
	r.wanted = map[syscall.Signal][]chan<- os.Signal{}
	r.replaced = map[syscall.Signal]kernelSigaction{}
	r.pending = map[chan<- os.Signal]signalSet{}
	writeEnd = int64(fds[1])
	go r.deliver()
	return nil
}

// deliver hands every signal read from the pipe to the channels that
// want it, until the process ends. Signals of one kind that arrive
// together are handed over once, as the kernel merges a pending signal.
// A channel that is full keeps what it could not take, one of each kind,
// and is offered it again every retryInterval until it takes it: a flood
// of one signal never crowds out another.
func (r *relay) deliver() {
	// Signals of one kind merge (arrived is a set), so a small buffer
	// loses nothing: a flood is read in more passes. A 4 KiB one grew the
	// goroutine's stack at its first read, at every start.
	var buf [64]byte
	retrying := false
	for {
		if r.waiting() {
			r.read.SetReadDeadline(time.Now().Add(retryInterval))
			retrying = true
		} else if retrying {
			r.read.SetReadDeadline(time.Time{})
			retrying = false
		}
		n, err := r.read.Read(buf[:])
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return // the read end is never closed; nothing left to relay
		}
		var arrived signalSet
		for _, b := range buf[:n] {
			arrived = arrived.with(syscall.Signal(b))
		}
		r.mu.Lock()
		for sig := range arrived.all() {
			for _, c := range r.wanted[sig] {
				r.pending[c] = r.pending[c].with(sig)
			}
		}
		for c, set := range r.pending {
			for sig := range set.all() {
				select {
				case c <- sig:
					set = set.without(sig)
					continue
				default:
				}
				break // full: the rest waits with it
			}
			if set == 0 {
				delete(r.pending, c)
			} else {
				r.pending[c] = set
			}
		}
		r.mu.Unlock()
	}
}

// waiting reports whether anything waits for a full channel.
func (r *relay) waiting() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending) > 0
}

// signalSet is a set of standard signals, 1 to 31, one bit each.
type signalSet uint32

// with returns s with sig added; a signal outside 1 to 31 is left out.
func (s signalSet) with(sig syscall.Signal) signalSet {
	if sig < 1 || sig > 31 {
		return s
	}
	return s | 1<<sig
}

// without returns s with sig taken out.
func (s signalSet) without(sig syscall.Signal) signalSet {
	return s &^ (1 << sig)
}

// all yields the signals of s, lowest number first.
func (s signalSet) all() iter.Seq[syscall.Signal] {
	return func(yield func(syscall.Signal) bool) {
		for sig := syscall.Signal(1); sig <= 31; sig++ {
			if s&(1<<sig) != 0 && !yield(sig) {
				return
			}
		}
	}
}

// Package signalpipe relays signals to channels, as os/signal does, but
// installs each signal's handler with one system call.
//
// os/signal enables each signal in a round trip to a thread the Go runtime
// keeps for its signal mask: two threads woken and put back to sleep per
// signal, about 50 µs each on a two-CPU virtual machine, so that the 17
// signals a PID 1 forwards cost a millisecond of every start and leave
// that long a window in which a signal is lost or ends the process. Here
// the handler is a few instructions of assembly that write the signal's
// number to a pipe (the self-pipe way: a write(2) is safe wherever a
// signal lands), and a goroutine reads the pipe and hands each signal to
// the channels that asked for it. Installing a handler is one
// rt_sigaction(2), so a PID 1's whole set goes in within tens of µs.
//
// Dispositions belong to the process, so the relay is the process's: one
// pipe and one reading goroutine, made on the first Notify.
//
// Only asynchronous signals the Go runtime needs for nothing of its own
// may be relayed: not SIGURG (goroutine preemption), SIGPROF (profiling),
// the faults (SEGV, BUS, FPE, ILL, TRAP, SYS: they become panics), nor
// KILL and STOP (never caught). SIGPIPE may be ignored (Ignore), not
// relayed: the runtime itself raises it for a write to a closed stdout
// and ends the process unless it knows the signal is wanted or ignored.
// A program forked by the Go runtime starts with the default handlers, as
// with os/signal: exec resets every caught signal to its default.
//
// On processors without the assembly handler, and should the pipe not be
// made (no descriptor left), os/signal does the same work, more slowly:
// callers need no way of their own for that.
package signalpipe

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// relayable reports whether sig may be relayed (see the package comment).
func relayable(sig syscall.Signal) error {
	if sig == syscall.SIGPIPE {
		return fmt.Errorf("signal %d (%v) may be ignored, not relayed: the Go runtime raises it itself", int(sig), sig)
	}
	return ignorable(sig)
}

// ignorable reports whether sig may be ignored (see the package comment).
func ignorable(sig syscall.Signal) error {
	switch sig {
	case syscall.SIGURG, syscall.SIGPROF,
		syscall.SIGSEGV, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGILL, syscall.SIGTRAP, syscall.SIGSYS,
		syscall.SIGKILL, syscall.SIGSTOP:
		return fmt.Errorf("signal %d (%v) is the Go runtime's or cannot be caught; use os/signal", int(sig), sig)
	}
	if sig < 1 || sig > 31 {
		return fmt.Errorf("signal %d: want a standard signal, 1 to 31", int(sig))
	}
	return nil
}

// check returns the first error allowed finds in sigs.
func check(sigs []syscall.Signal, allowed func(syscall.Signal) error) error {
	for _, sig := range sigs {
		if err := allowed(sig); err != nil {
			return err
		}
	}
	return nil
}

// osNotify relays sigs to c through os/signal, where the relay cannot.
func osNotify(c chan<- os.Signal, sigs []syscall.Signal) {
	for _, sig := range sigs {
		signal.Notify(c, sig)
	}
}

// osIgnore drops sigs through os/signal, where the relay cannot: they are
// caught into a channel nobody reads rather than set to SIG_IGN, which
// programs would inherit.
func osIgnore(sigs []syscall.Signal) {
	sink := make(chan os.Signal, 1)
	for _, sig := range sigs {
		signal.Notify(sink, sig)
	}
}

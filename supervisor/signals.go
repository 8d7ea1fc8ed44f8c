package supervisor

import (
	"os"
	"os/signal"
	"syscall"

	"tend/internal/signalpipe"
)

// forwardedSignals are relayed to the main program. As PID 1, tend must
// install a handler for every signal it wants delivered: the kernel drops
// signals that PID 1 has no handler for, and the Go runtime would exit on
// the ones it handles by default. TERM and INT are listed because they
// start the stop; the rest reach the main program unchanged.
//
// Not listed, on purpose: CHLD (the reaper's), URG (the Go runtime uses it
// to preempt goroutines), PIPE (raised by tend's own writes to a closed
// pipe, handled below), KILL and STOP (cannot be caught), and the
// synchronous faults (SEGV, BUS, FPE, ILL, TRAP, SYS).
//
// They are relayed by package signalpipe, which installs each handler with
// one system call (os/signal takes a round trip to the runtime's signal
// thread per signal, a millisecond for these). The order is the order of
// installation: TERM and INT first, so that a stop asked for in tend's
// first moments is never Go's default exit, then the other signals whose
// default would end tend (QUIT, HUP).
var forwardedSignals = []syscall.Signal{
	syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGALRM,
	// A program reading a terminal in the background gets TTIN and TTOU;
	// tend must not be stopped by them itself, so it catches and relays them.
	syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGTSTP, syscall.SIGCONT,
	syscall.SIGVTALRM, syscall.SIGXCPU, syscall.SIGXFSZ, syscall.SIGPWR,
	syscall.SIGSTKFLT,
}

// ignoredSignals are dropped. SIGPIPE is, so that a write to a closed
// console pipe returns EPIPE instead of killing PID 1; programs still
// start with its default (see signalpipe.Ignore).
var ignoredSignals = []syscall.Signal{syscall.SIGPIPE}

// stopSignal reports whether sig starts the stop sequence.
func stopSignal(sig os.Signal) bool {
	return sig == syscall.SIGTERM || sig == syscall.SIGINT
}

// Signals are tend's signal handlers, installed by CatchSignals.
type Signals struct {
	forwarded chan os.Signal
	// ignored receives the ignored signals only when the relay failed and
	// os/signal catches them instead; otherwise it is nil.
	ignored chan os.Signal
}

// CatchSignals installs a handler for every forwarded and ignored signal;
// tend calls it first thing, before it reads its configuration. Should
// the relay's pipe not be made (no descriptor left), os/signal installs
// the handlers instead, more slowly.
func CatchSignals() *Signals {
	s := &Signals{forwarded: make(chan os.Signal, 32)}
	if err := signalpipe.Notify(s.forwarded, forwardedSignals...); err != nil {
		for _, sig := range forwardedSignals {
			signal.Notify(s.forwarded, sig)
		}
	}
	if err := signalpipe.Ignore(ignoredSignals...); err != nil {
		s.ignored = make(chan os.Signal, 1)
		for _, sig := range ignoredSignals {
			signal.Notify(s.ignored, sig)
		}
	}
	return s
}

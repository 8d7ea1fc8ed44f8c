package supervisor

import (
	"os"
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
}

// CatchSignals installs a handler for every forwarded and ignored signal;
// tend calls it first thing, before it reads its configuration.
func CatchSignals() *Signals {
	s := &Signals{forwarded: make(chan os.Signal, 32)}
	// The lists are fixed and every signal on them may be relayed, which
	// the tests check: an error here is a mistake in the lists.
	if err := signalpipe.Notify(s.forwarded, forwardedSignals...); err != nil {
		panic("supervisor: forwarded signals: " + err.Error())
	}
	if err := signalpipe.Ignore(ignoredSignals...); err != nil {
		panic("supervisor: ignored signals: " + err.Error())
	}
	return s
}

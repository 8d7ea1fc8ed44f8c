// Command pid1floor is the least a PID 1 built from tend's packages can do
// to run a program as tini does. It links every package of tend's that
// tend's command links, so that its start, before main, costs about what
// tend's binary costs; then it installs tend's signal handlers
// (supervisor.CatchSignals: a handler for every forwarded signal is in
// before a program starts, or a signal sent then is lost or ends PID 1),
// becomes a child subreaper, forks and executes the program at the path
// its first argument gives with the raw system calls, waits for it, and
// exits with its status. No configuration, no log capture, no control
// socket, no stop sequence.
//
// With -no-handlers first, it leaves the handlers out: the difference is
// what installing them costs a start.
//
// bench/startup times both beside tini: what the first takes over tini is
// what no change to tend's own steps can win back while tend keeps its
// packages and its handlers.
package main

import (
	"fmt"
	"os"
	"syscall"

	_ "tend/admin"
	_ "tend/budget"
	_ "tend/config"
	_ "tend/hooks"
	_ "tend/internal/gcpace"
	_ "tend/internal/stackreserve"
	_ "tend/lifecycle"
	_ "tend/logship"
	_ "tend/logship/console"
	_ "tend/logship/fluent"
	_ "tend/logship/logfile"
	"tend/reaper"
	_ "tend/resources"
	"tend/supervisor"
	_ "tend/watch"
)

func main() {
	args := os.Args[1:]
	handlers := true
	if len(args) > 0 && args[0] == "-no-handlers" {
		handlers, args = false, args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: pid1floor [-no-handlers] PATH [ARG...]")
		os.Exit(2)
	}
	if handlers {
		supervisor.CatchSignals()
	}
	if err := reaper.BecomeSubreaper(); err != nil {
		fmt.Fprintf(os.Stderr, "pid1floor: %v\n", err)
	}
	pid, err := syscall.ForkExec(args[0], args, &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2}})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pid1floor: %v\n", err)
		os.Exit(127)
	}
	var status syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &status, 0, nil); err != nil {
		fmt.Fprintf(os.Stderr, "pid1floor: wait: %v\n", err)
		os.Exit(1)
	}
	os.Exit(status.ExitStatus())
}

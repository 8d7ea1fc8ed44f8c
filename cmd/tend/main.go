// Command tend is a PID-1 supervisor for containers: it runs a main
// program (the image's CMD) and its side programs, reaps zombies, forwards
// signals, keeps logs from filling the disk, and turns SIGTERM into an
// ordered, lossless drain.
//
// Usage:
//
//	tend [flags] [--] CMD [ARGS...]   run CMD as the main program
//	tend check [--json]               validate the configuration and print it
//	tend status [--json]              show every program
//	tend health                       exit 0 when ready
//	tend drain [--wait]               start the graceful stop now
//	tend start|stop|restart NAME      control one program
//	tend signal NAME SIG              send a signal to one program
//	tend profile [--json]             service profile and resource recommendation
//	tend version                      print the version

// Two runtime settings that cost every start and every idle second: naming
// each memory mapping takes a prctl per mapping (and fails on kernels
// without it), and the background update of GOMAXPROCS from the cgroup's
// CPU limit wakes tend while it idles. GOMAXPROCS still follows the limit
// at start.
//
//go:debug decoratemappings=0
//go:debug updatemaxprocs=0
package main

import (
	"fmt"
	"io"
	"os"

	"tend/internal/stackreserve"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes of tend itself (the main program's code is passed through).
const (
	exitOK       = 0
	exitFailure  = 1
	exitBadInput = 2
)

const usage = `usage:
  tend [flags] [--] CMD [ARGS...]   run CMD as the main program, plus the configured side programs
  tend check [--json]               validate env + files, print the effective configuration, exit 2 on error
  tend status [--json]              programs: state, pid, uptime, restarts, last exit, cpu, rss
  tend health                       exit 0 when ready (for HEALTHCHECK in images without curl)
  tend drain [--wait]               start the graceful stop now (Kubernetes preStop)
  tend start|stop|restart NAME      control one program
  tend signal NAME SIG              send a signal to one program
  tend profile [--json]             service profile and resource recommendation
  tend version                      print the version

flags:
  -h, --help      show this help
  -V, --version   print the version

Every setting is an environment variable TEND_<SETTING>; see README.md or run tend check.
`

func main() {
	// Every command's goroutine reaches 8 KiB: taken here, where the stack
	// is two frames deep, it is copied once, and not twice half-way
	// through the signal handlers' installation.
	stackreserve.EightKiB()
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

// dispatch runs the subcommand named by args[0], or the supervisor.
func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "tend: no command given\n\n"+usage)
		return exitBadInput
	}
	switch args[0] {
	case "check":
		return runCheck(args[1:], stdout, stderr)
	case "version", "-V", "--version":
		fmt.Fprintf(stdout, "tend %s\n", version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "status", "health", "drain", "start", "stop", "restart", "signal", "profile":
		return runControl(args[0], args[1:], stdout, stderr)
	case "--":
		return runSupervisor(args[1:], stderr)
	}
	if len(args[0]) > 1 && args[0][0] == '-' {
		fmt.Fprintf(stderr, "tend: unknown flag %q; put the program after --, as in tend -- %s\n\n%s", args[0], args[0], usage)
		return exitBadInput
	}
	return runSupervisor(args, stderr)
}

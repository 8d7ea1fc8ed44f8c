// Package hooks runs the short-lived helpers of the supervisor: readiness
// probes, pre-stop hooks (a command or an HTTP request) and the connection
// drain watcher. Commands start through the reaper, like every child of
// tend, so no second wait4 races it.
package hooks

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"

	"tend/reaper"
)

// killWait bounds the wait for a hook command to disappear after SIGKILL.
const killWait = 2 * time.Second

// Run starts spec through r and waits until it exits or ctx is done; then
// its process group is killed. It returns the exit code, and an error when
// the command could not start or was cut short by ctx.
func Run(ctx context.Context, r *reaper.Reaper, spec reaper.Spec) (int, error) {
	proc, err := r.Start(spec)
	if err != nil {
		return -1, err
	}
	select {
	case <-proc.Done():
		// Whatever the command left behind in its group goes with it.
		proc.SignalGroup(syscall.SIGKILL)
		return proc.ExitCode(), nil
	case <-ctx.Done():
		proc.SignalGroup(syscall.SIGKILL)
		select {
		case <-proc.Done():
		case <-time.After(killWait):
		}
		return -1, fmt.Errorf("%s: cut short: %w", spec.Argv[0], context.Cause(ctx))
	}
}

// RunLogged runs spec like Run, with its stdout and stderr captured by out
// as program's streams. The pipes' write ends are closed once the command
// has exited (or was killed with its group), so the captures reach EOF.
func RunLogged(ctx context.Context, r *reaper.Reaper, spec reaper.Spec, program string, out Capturer) (int, error) {
	for _, stream := range []string{"stdout", "stderr"} {
		pr, pw, err := os.Pipe()
		if err != nil {
			return -1, fmt.Errorf("%s pipe: %w", stream, err)
		}
		out.Capture(program, stream, pr)
		defer pw.Close()
		if stream == "stdout" {
			spec.Stdout = pw
		} else {
			spec.Stderr = pw
		}
	}
	return Run(ctx, r, spec)
}

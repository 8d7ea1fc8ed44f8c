package hooks

import (
	"context"
	"fmt"
	"strconv"

	"tend/budget"
	"tend/reaper"
)

// CleanupProgram is the program name the cleanup hook's output is logged
// under.
const CleanupProgram = "cleanup"

// Cleanup is TEND_ON_LOG_CLEANUP: a command run after each cleanup of the
// disk budget, to tell the files' owner.
type Cleanup struct {
	// Argv is the command.
	Argv []string
	// Env is the environment it runs with, before the cleanup's variables.
	Env []string
	// Reaper starts it.
	Reaper *reaper.Reaper
	// Out captures its output as program CleanupProgram. It may be set
	// after Run is handed to the budget, before the budget's first
	// cleanup.
	Out Capturer
}

// Run runs the command for one cleanup, with the cleanup in
// TEND_CLEANUP_FILE, TEND_CLEANUP_BYTES, TEND_CLEANUP_REASON,
// TEND_CLEANUP_ACTION (deleted or truncated) and TEND_CLEANUP_PROGRAM. It
// fails when the command cannot start, is cut short by ctx, or exits with
// a code other than 0.
func (c *Cleanup) Run(ctx context.Context, rm budget.Removal) error {
	action := "deleted"
	if rm.Truncated {
		action = "truncated"
	}
	env := append(append([]string{}, c.Env...),
		"TEND_CLEANUP_FILE="+rm.Path,
		"TEND_CLEANUP_BYTES="+strconv.FormatInt(rm.Bytes, 10),
		"TEND_CLEANUP_REASON="+rm.Reason,
		"TEND_CLEANUP_ACTION="+action,
		"TEND_CLEANUP_PROGRAM="+rm.Owner,
	)
	code, err := RunLogged(ctx, c.Reaper, reaper.Spec{Argv: c.Argv, Env: env}, CleanupProgram, c.Out)
	if err != nil {
		return fmt.Errorf("cleanup hook: %w", err)
	}
	if code != 0 {
		return fmt.Errorf("cleanup hook exited with code %d", code)
	}
	return nil
}

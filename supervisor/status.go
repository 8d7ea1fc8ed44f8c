package supervisor

import (
	"time"

	"tend/hooks"
	"tend/logship"
	"tend/resources"
)

// State is where a program is in its life, with supervisord's names plus
// WAITING. machine.go has the transitions between them.
type State string

// Program states.
const (
	Stopped  State = "STOPPED"  // not started yet, or stopped on request
	Waiting  State = "WAITING"  // to start once its dependencies are ready
	Starting State = "STARTING" // running for less than startsecs
	Running  State = "RUNNING"  // has run startsecs
	Backoff  State = "BACKOFF"  // waiting to retry after a failed start or an exit
	Stopping State = "STOPPING" // stop signal sent, waiting for the exit
	Exited   State = "EXITED"   // exited and will not be restarted
	Fatal    State = "FATAL"    // failed startretries+1 times in a row
)

// Exit describes how a program last ended.
type Exit struct {
	// Code is the exit code, or 128+N when killed by signal N.
	Code int `json:"code"`
	// Signal names the killing signal, if any.
	Signal string `json:"signal,omitempty"`
	// At is when the program was reaped.
	At time.Time `json:"at"`
	// Ran is how long the program ran.
	Ran time.Duration `json:"ran_ns"`
	// Reason is ExitOOMKilled when the kernel's OOM killer took the
	// program's process, or a process of it whose end ended it.
	Reason string `json:"reason,omitempty"`
}

// ExitOOMKilled is Exit.Reason for a program the OOM killer took.
const ExitOOMKilled = "oom-killed"

// ProgramStatus is a snapshot of one program for `tend status`.
type ProgramStatus struct {
	Name     string    `json:"name"`
	Main     bool      `json:"main,omitempty"`
	State    State     `json:"state"`
	Since    time.Time `json:"since,omitzero"` // when the program entered its state
	Ready    bool      `json:"ready"`
	Pid      int       `json:"pid,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Uptime   float64   `json:"uptime_seconds"`
	Restarts int       `json:"restarts"`
	LastExit *Exit     `json:"last_exit,omitempty"`
	// OOMKills counts the program's processes the OOM killer took: its
	// own, and its children's.
	OOMKills int `json:"oom_kills,omitempty"`
	// WaitingFor is how the wait of a WAITING program for its outside
	// services (TEND_WAIT_FOR, wait_for) stands: each target, since when,
	// whether it answered, and why its last check failed.
	WaitingFor []hooks.DependencyState `json:"waiting_for,omitempty"`
	// Usage is what the running process uses (nil when not running).
	Usage *resources.Usage `json:"usage,omitempty"`
	// Logs are the program's log counters: lines in, and what was dropped.
	Logs *logship.ProgramStats `json:"logs,omitempty"`
	// Reason says why the program is in its state: what a WAITING program
	// waits for, why it backs off, why it is EXITED or FATAL, or that its
	// process is stopped by a signal.
	Reason string `json:"reason,omitempty"`
	// LastLines are the program's last output lines (for a held main program).
	LastLines []string `json:"last_lines,omitempty"`
}

// Status is a snapshot of the whole supervisor.
type Status struct {
	// Ready is what `tend health` and /readyz report.
	Ready bool `json:"ready"`
	// Stopping is true once the stop sequence has begun.
	Stopping bool `json:"stopping"`
	// Holding is true while a failed main program is held for inspection.
	Holding bool `json:"holding,omitempty"`
	// Programs lists every program, side programs in start order, main last.
	Programs []ProgramStatus `json:"programs"`
	// OrphansReaped counts statuses of processes tend did not start.
	OrphansReaped int64 `json:"orphans_reaped"`
	// Logs is the log pipeline's state beyond per-program counters: disk
	// budget, watched files, recent cleanups, Fluentd.
	Logs *logship.Status `json:"logs,omitempty"`
	// Memory is the last reading of the container's memory (nil: its
	// memory is not watched).
	Memory *resources.Memory `json:"memory,omitempty"`
}

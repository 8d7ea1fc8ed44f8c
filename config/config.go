// Package config turns tend's environment variables, conf.d files and
// command line into one validated Config value. It has no side effects: it
// reads the environment slice and the files it is given, looks at the
// paths tend would create (TEND_LOG_DIR, TEND_SOCKET), and starts,
// creates and connects to nothing.
package config

import (
	"syscall"
	"time"
)

// MainOnExit values: what tend does when the main program exits on its own.
const (
	MainExit    = "exit"    // stop the side programs and exit with the main program's code
	MainRestart = "restart" // restart the main program with backoff
	MainHold    = "hold"    // keep the container up with readiness failing
)

// Log formats for the console.
const (
	FormatRaw    = "raw"    // byte-exact passthrough
	FormatPrefix = "prefix" // "NAME | line"
	FormatJSON   = "json"   // one JSON object per line
)

// Log modes: what a sink does when it cannot keep up.
const (
	ModeBlocking    = "blocking"     // slow the program down
	ModeNonBlocking = "non-blocking" // drop and count
)

// Config is the whole validated configuration of one tend run.
type Config struct {
	// Main is the program given on the command line.
	Main Program
	// Programs are the side programs, in start order: priority, then name,
	// with each after the side programs it depends on.
	Programs []Program

	// ConfigDir is the directory whose conf.d/*.conf files define programs.
	ConfigDir string
	// User is the default user for every program ("" keeps tend's own).
	User string
	// MainOnExit is one of MainExit, MainRestart, MainHold.
	MainOnExit string
	// HoldFor bounds how long MainHold keeps the container up (0: forever).
	HoldFor time.Duration
	// WaitFor are the outside services that must answer before the main
	// program starts (TEND_WAIT_FOR), checked with its own wait_for.
	WaitFor []Dependency
	// WaitTimeout bounds each program's wait for its outside services.
	WaitTimeout time.Duration

	Stop   Stop
	Log    Log
	Fluent Fluent
	Admin  Admin
	Events Events

	// JavaAutotune sizes the JVM from the container's cgroup limits.
	JavaAutotune bool
	// Memory holds the settings of the watch on the cgroup's memory.
	Memory Memory

	// Warnings are non-fatal findings, such as supervisord keys tend
	// reads but does not act on.
	Warnings []string
}

// Stop holds the settings of the stop sequence.
type Stop struct {
	// Timeout is the whole stop budget, from the first TERM to exit.
	Timeout time.Duration
	// FlushReserve is the part of Timeout kept for the final log flush.
	FlushReserve time.Duration
	// DrainDelay is how long to wait after readiness is withdrawn.
	DrainDelay time.Duration
	// DrainPorts are local TCP ports whose established connections are
	// waited for before the main program is stopped.
	DrainPorts []int
	// Prestop is a command (argv) run at the start of the stop.
	Prestop []string
	// PrestopHTTP is an HTTP request sent at the start of the stop.
	PrestopHTTP *HTTPRequest
	// PrestopTimeout bounds each pre-stop hook.
	PrestopTimeout time.Duration
	// DumpOnTimeout sends SIGQUIT before the forced kill of the main program.
	DumpOnTimeout bool
	// ExitCodes maps the main program's exit code to tend's exit code.
	ExitCodes map[int]int
}

// HTTPRequest is an HTTP hook: method, URL and optional body.
type HTTPRequest struct {
	Method string
	URL    string
	Body   string
}

// Log holds the settings of the log pipeline.
type Log struct {
	// Format of the console output: FormatRaw, FormatPrefix, FormatJSON.
	Format string
	// Dir, when set, receives one rotated file per program.
	Dir string
	// FileSize is the size at which a log file is rotated.
	FileSize int64
	// FileCount is how many files, the live one included, are kept per program.
	FileCount int
	// Compress gzips rotated files.
	Compress bool
	// DiskBudget caps the bytes of all files tend writes or watches (0: no cap).
	DiskBudget int64
	// MinFree is the free space kept on the log filesystem (0: none).
	MinFree int64
	// Rate limits console bytes per second per program (0: no limit).
	Rate int64
	// Burst is the rate limiter's bucket size.
	Burst int64
	// MaxLine is the length at which a line is split into partial pieces.
	MaxLine int
	// Multiline is "" or "java" (join stack traces).
	Multiline string
	// Mode is ModeBlocking or ModeNonBlocking.
	Mode string
	// Buffer is the per-sink queue size in bytes in non-blocking mode.
	Buffer int64
	// Watch lists paths, globs, or "auto" for files the programs write.
	Watch []string
	// Tail copies watched files into the pipeline.
	Tail bool
	// OnCleanup is a command (argv) run after each cleanup for the budget.
	OnCleanup []string
}

// Fluent holds the Fluentd forwarding settings.
type Fluent struct {
	// Addr is host:port or unix:///path; "" disables forwarding.
	Addr string
	// Tag is a template over {program} and {stream}.
	Tag string
	// Buffer is the memory, in bytes, records may take on their way.
	Buffer int64
	// Spool is the directory of chunk files for what does not fit in
	// Buffer ("" for none). Load sets it to Log.Dir/fluent-spool when it
	// is not given and Log.Dir is set.
	Spool string
	// SpoolSize caps the bytes of the spool's files.
	SpoolSize int64
	// Ack asks the receiver to acknowledge each chunk (at-least-once).
	Ack bool
	// TLS connects over TLS; TLSCA, TLSCert and TLSKey are PEM files
	// ("": the system's roots, no client certificate).
	TLS                    bool
	TLSCA, TLSCert, TLSKey string
	// SharedKey, when set, runs in_forward's shared-key handshake.
	SharedKey string
	// Hostname is the self_hostname of the handshake ("": the host name).
	Hostname string
}

// Admin holds the control interfaces.
type Admin struct {
	// Socket is the unix socket path of the control commands.
	Socket string
	// HTTPAddr enables /healthz, /readyz, /metrics and /status when set.
	HTTPAddr string
}

// Memory holds the settings of the memory watch: the warning before the
// limit and the commands run on memory pressure and on an OOM kill.
type Memory struct {
	// Warn is the share of the memory limit the working set must stay
	// above for a warning (0: no warnings).
	Warn float64
	// OnPressure is a command (argv) run once per warning.
	OnPressure []string
	// OnOOM is a command (argv) run after each OOM kill.
	OnOOM []string
	// CgroupRoot is where the cgroup filesystem is mounted; only tests
	// change it, to read files laid out as the kernel lays them out.
	CgroupRoot string
}

// Events holds the settings of tend's own log.
type Events struct {
	// Format is "text" or "json".
	Format string
	// Level is debug, info, warn or error.
	Level string
}

// Restart policies (supervisord's autorestart).
const (
	RestartNever      = "false"
	RestartAlways     = "true"
	RestartUnexpected = "unexpected"
)

// Probe kinds for Program.Ready.
const (
	ProbeNone = ""
	ProbeTCP  = "tcp"
	ProbeHTTP = "http"
	ProbeExec = "exec"
)

// Probe says how to tell that a program is ready.
type Probe struct {
	// Kind is one of ProbeNone, ProbeTCP, ProbeHTTP, ProbeExec.
	Kind string
	// Address is host:port for ProbeTCP and the URL for ProbeHTTP.
	Address string
	// Command is the argv for ProbeExec.
	Command []string
}

// Program is one supervised program.
type Program struct {
	// Name is lower-case letters and digits.
	Name string
	// Command is the argv; Command[0] is looked up in PATH.
	Command []string
	// Directory is the working directory ("" keeps tend's).
	Directory string
	// User runs the program as this user name or uid ("" keeps tend's).
	User string
	// Credential is User resolved from the user database (nil: tend's own).
	Credential *Credential
	// Environment is added to tend's environment, as KEY=VALUE.
	Environment []string
	// Priority orders start (low first) and stop (high first).
	Priority int
	// DependsOn names programs that must be ready before this one starts.
	DependsOn []string
	// WaitFor are outside services that must answer before each start.
	WaitFor []Dependency
	// AutoStart starts the program with tend; false waits for `tend start`.
	AutoStart bool
	// Ready is the readiness probe.
	Ready Probe
	// AutoRestart is RestartNever, RestartAlways or RestartUnexpected.
	AutoRestart string
	// ExitCodes are the expected exit codes for RestartUnexpected.
	ExitCodes []int
	// StartPeriod is how long a program must run to count as started.
	StartPeriod time.Duration
	// StartRetries is how many quick failures make the program FATAL.
	StartRetries int
	// StopSignal is sent first on stop.
	StopSignal syscall.Signal
	// StopWait is how long to wait after StopSignal before the kill.
	StopWait time.Duration
	// StopAsGroup sends StopSignal to the whole process group.
	StopAsGroup bool
	// KillAsGroup sends the final SIGKILL to the whole process group.
	KillAsGroup bool
	// Critical stops the container when the program becomes FATAL.
	Critical bool
	// RedirectStderr merges stderr into stdout.
	RedirectStderr bool
	// LogRate overrides Log.Rate for this program (-1: inherit).
	LogRate int64
	// LogBurst overrides Log.Burst for this program (-1: inherit).
	LogBurst int64
	// LogMultiline overrides Log.Multiline for this program ("-": inherit).
	LogMultiline string

	// Source says where the program was defined, such as
	// "/etc/tend/conf.d/agent.conf:3" or "TEND_AGENT_COMMAND".
	Source string
}

// Credential is a resolved user: ids, supplementary groups and home.
type Credential struct {
	Name   string
	UID    uint32
	GID    uint32
	Groups []uint32
	Home   string
}

package config

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Prefix starts every environment variable tend reads.
const Prefix = "TEND_"

// DefaultSocket is the control socket's path when TEND_SOCKET is unset.
const DefaultSocket = "/run/tend.sock"

// Upper bounds of the size settings. Each keeps a value that would exhaust
// memory, or that no disk holds, from passing `tend check` and failing at
// run time.
const (
	// MaxFileSize bounds TEND_LOG_FILE_SIZE.
	MaxFileSize = 1 << 40
	// MaxFileCount bounds TEND_LOG_FILE_COUNT.
	MaxFileCount = 1000
	// MaxDiskSize bounds TEND_LOG_DISK_BUDGET and TEND_LOG_MIN_FREE.
	MaxDiskSize = 1 << 50
	// MaxRate bounds TEND_LOG_RATE, TEND_LOG_BURST and their per-program keys.
	MaxRate = 1 << 40
	// MaxLine bounds TEND_LOG_MAX_LINE: the framer holds a line this long.
	MaxLine = 16 << 20
	// MaxLogBuffer bounds TEND_LOG_BUFFER, memory each sink may queue.
	MaxLogBuffer = 256 << 20
	// MaxFluentBuffer bounds TEND_FLUENT_BUFFER, memory the Fluentd sink
	// may hold.
	MaxFluentBuffer = 256 << 20
	// MinFluentBuffer is the least TEND_FLUENT_BUFFER: room for a few
	// chunks. A bare number below it is most likely a count of records,
	// what the setting once was.
	MinFluentBuffer = 64 << 10
)

// MaxSocketPath is the longest unix socket path: sun_path holds 108
// bytes, the terminating NUL included.
const MaxSocketPath = 107

// Setting describes one global TEND_ variable: its name, default, expected
// form and meaning. The table of settings is the single source for parsing,
// `tend check`, and the README's settings table.
type Setting struct {
	// Name is the variable without the TEND_ prefix, such as "STOP_TIMEOUT".
	Name string
	// Area groups settings in documentation: programs, stop, logs, ...
	Area string
	// Default is the value used when the variable is unset ("" for none).
	Default string
	// Form is the expected form, used in error messages.
	Form string
	// Doc says what the setting does.
	Doc string
	// AllowEmpty means an empty value is valid and means "off".
	AllowEmpty bool

	set func(c *Config, v string) error
	get func(c *Config) string
}

// Var returns the full environment variable name.
func (s Setting) Var() string { return Prefix + s.Name }

// Value renders the setting's effective value in c.
func (s Setting) Value(c *Config) string { return s.get(c) }

const (
	formBool     = "true or false"
	formUser     = "a user name or numeric uid"
	formPath     = "an absolute path"
	formCommand  = "a command line, such as `curl -fsS http://localhost:8080/x`"
	formPorts    = "a comma-separated list of TCP ports, such as 8080,8443"
	formExitMap  = "a comma-separated list of FROM:TO exit codes, such as 143:0,130:0"
	formHTTPHook = "METHOD URL [BODY], such as `PUT http://localhost:8080/actuator/service-registry {\"status\":\"OUT_OF_SERVICE\"}`"
	formLevel    = "one of debug, info, warn, error"
	formShare    = "a share from 0 to 1 such as 0.9, or a percentage such as 90%"
)

// Settings returns the table of global settings, in documentation order.
func Settings() []Setting {
	return []Setting{
		// programs
		{Name: "CONFIG_DIR", Area: "programs", Default: "/etc/tend", Form: formPath,
			Doc: "directory whose conf.d/*.conf files define side programs (supervisord INI layout)",
			set: func(c *Config, v string) error { return setPath(&c.ConfigDir, v) },
			get: func(c *Config) string { return c.ConfigDir }},
		{Name: "USER", Area: "programs", Form: formUser, AllowEmpty: true,
			Doc: "default user for every program; empty keeps tend's own",
			set: func(c *Config, v string) error { c.User = v; return nil },
			get: func(c *Config) string { return c.User }},
		{Name: "MAIN_NAME", Area: "programs", Default: "main", Form: formName + ", not the first word of a global setting",
			Doc: "name of the main program in status, logs, file names and metrics",
			set: func(c *Config, v string) error {
				if err := checkName(v); err != nil {
					return err
				}
				c.Main.Name = v
				return nil
			},
			get: func(c *Config) string { return c.Main.Name }},
		{Name: "MAIN_ON_EXIT", Area: "programs", Default: MainExit, Form: "one of exit, restart, hold",
			Doc: "when the main program exits on its own: exit (stop everything), restart it, or hold the container up for inspection",
			set: func(c *Config, v string) error {
				return setEnum(&c.MainOnExit, v, MainExit, MainRestart, MainHold)
			},
			get: func(c *Config) string { return c.MainOnExit }},
		{Name: "HOLD_FOR", Area: "programs", Default: "0", Form: DurationForm,
			Doc: "with MAIN_ON_EXIT=hold, how long to hold before exiting (0: until stopped)",
			set: func(c *Config, v string) error { return setDuration(&c.HoldFor, v) },
			get: func(c *Config) string { return c.HoldFor.String() }},
		{Name: "WAIT_FOR", Area: "programs", Form: formDepends, AllowEmpty: true,
			Doc: "outside services that must answer before the main program starts, checked together with its own wait_for, each with backoff; while they do not, the main program is WAITING, `tend status` names each with its last error and readiness fails; when TEND_WAIT_TIMEOUT passes first, tend exits 1 naming each that never answered",
			set: func(c *Config, v string) error { return setDependencies(&c.WaitFor, v) },
			get: func(c *Config) string { return JoinDependencies(c.WaitFor) }},
		{Name: "WAIT_TIMEOUT", Area: "programs", Default: "60s", Form: DurationForm,
			Doc: "how long a program waits for its outside services (TEND_WAIT_FOR, wait_for) at each start",
			set: func(c *Config, v string) error { return setPositiveDuration(&c.WaitTimeout, v) },
			get: func(c *Config) string { return c.WaitTimeout.String() }},

		// stop
		{Name: "STOP_TIMEOUT", Area: "stop", Default: "10s", Form: DurationForm,
			Doc: "the whole stop budget, from the first TERM to tend's exit; keep it below the orchestrator's grace period",
			set: func(c *Config, v string) error { return setPositiveDuration(&c.Stop.Timeout, v) },
			get: func(c *Config) string { return c.Stop.Timeout.String() }},
		{Name: "STOP_FLUSH_RESERVE", Area: "stop", Default: "1s", Form: DurationForm + ", shorter than STOP_TIMEOUT",
			Doc: "part of the stop budget kept for the final log flush; never shortened by earlier phases; unset, it is 1s or a tenth of STOP_TIMEOUT when that is less",
			set: func(c *Config, v string) error { return setDuration(&c.Stop.FlushReserve, v) },
			get: func(c *Config) string { return c.Stop.FlushReserve.String() }},
		{Name: "DRAIN_DELAY", Area: "stop", Default: "0", Form: DurationForm,
			Doc: "after readiness is withdrawn, time for load balancers and registry caches to notice",
			set: func(c *Config, v string) error { return setDuration(&c.Stop.DrainDelay, v) },
			get: func(c *Config) string { return c.Stop.DrainDelay.String() }},
		{Name: "DRAIN_PORTS", Area: "stop", Form: formPorts, AllowEmpty: true,
			Doc: "local TCP ports whose established inbound connections are waited for before the main program is stopped",
			set: func(c *Config, v string) error { return setPorts(&c.Stop.DrainPorts, v) },
			get: func(c *Config) string { return joinInts(c.Stop.DrainPorts) }},
		{Name: "PRESTOP", Area: "stop", Form: formCommand, AllowEmpty: true,
			Doc: "command run at the start of the stop, such as a deregistration; its output is logged as program prestop",
			set: func(c *Config, v string) error { return setCommand(&c.Stop.Prestop, v) },
			get: func(c *Config) string { return JoinCommand(c.Stop.Prestop) }},
		{Name: "PRESTOP_HTTP", Area: "stop", Form: formHTTPHook, AllowEmpty: true,
			Doc: "HTTP request sent at the start of the stop, such as Spring's service-registry OUT_OF_SERVICE",
			set: func(c *Config, v string) error { return setHTTPHook(&c.Stop.PrestopHTTP, v) },
			get: func(c *Config) string {
				if h := c.Stop.PrestopHTTP; h != nil {
					return strings.TrimSpace(h.Method + " " + h.URL + " " + h.Body)
				}
				return ""
			}},
		{Name: "PRESTOP_TIMEOUT", Area: "stop", Default: "5s", Form: DurationForm,
			Doc: "time limit of each pre-stop hook",
			set: func(c *Config, v string) error { return setPositiveDuration(&c.Stop.PrestopTimeout, v) },
			get: func(c *Config) string { return c.Stop.PrestopTimeout.String() }},
		{Name: "DUMP_ON_TIMEOUT", Area: "stop", Default: "false", Form: formBool,
			Doc: "send QUIT to the main program before the forced kill, so a JVM prints a thread dump",
			set: func(c *Config, v string) error { return setBool(&c.Stop.DumpOnTimeout, v) },
			get: func(c *Config) string { return strconv.FormatBool(c.Stop.DumpOnTimeout) }},
		{Name: "EXIT_CODE_MAP", Area: "stop", Form: formExitMap, AllowEmpty: true,
			Doc: "maps the main program's exit code to tend's, for platforms that alert on non-zero exits",
			set: func(c *Config, v string) error { return setExitMap(&c.Stop.ExitCodes, v) },
			get: func(c *Config) string { return formatExitMap(c.Stop.ExitCodes) }},

		// logs
		{Name: "LOG_FORMAT", Area: "logs", Default: FormatRaw, Form: "one of raw, prefix, json",
			Doc: "console format: raw (byte-exact), prefix (`NAME | line`), json (one object per line)",
			set: func(c *Config, v string) error {
				return setEnum(&c.Log.Format, v, FormatRaw, FormatPrefix, FormatJSON)
			},
			get: func(c *Config) string { return c.Log.Format }},
		{Name: "LOG_DIR", Area: "logs", Form: formPath + " of a directory, or of one tend can create", AllowEmpty: true,
			Doc: "when set, every program's output is also written to rotated files here (created when missing)",
			set: func(c *Config, v string) error { return setPath(&c.Log.Dir, v) },
			get: func(c *Config) string { return c.Log.Dir }},
		{Name: "LOG_FILE_SIZE", Area: "logs", Default: "50MiB", Form: SizeForm + ", at most 1TiB",
			Doc: "size at which a log file is rotated",
			set: func(c *Config, v string) error { return setBoundedSize(&c.Log.FileSize, v, 1, MaxFileSize) },
			get: func(c *Config) string { return FormatSize(c.Log.FileSize) }},
		{Name: "LOG_FILE_COUNT", Area: "logs", Default: "5", Form: "a whole number from 1 to 1000",
			Doc: "files kept per program, the live one included",
			set: func(c *Config, v string) error { return setBoundedInt(&c.Log.FileCount, v, 1, MaxFileCount) },
			get: func(c *Config) string { return strconv.Itoa(c.Log.FileCount) }},
		{Name: "LOG_COMPRESS", Area: "logs", Default: "false", Form: formBool,
			Doc: "gzip rotated log files",
			set: func(c *Config, v string) error { return setBool(&c.Log.Compress, v) },
			get: func(c *Config) string { return strconv.FormatBool(c.Log.Compress) }},
		{Name: "LOG_DISK_BUDGET", Area: "logs", Default: "0", Form: SizeForm + ", at most 1024TiB",
			Doc: "cap on the bytes of all log files, tend's and watched ones together; oldest go first (0: no cap beyond rotation)",
			set: func(c *Config, v string) error { return setBoundedSize(&c.Log.DiskBudget, v, 0, MaxDiskSize) },
			get: func(c *Config) string { return FormatSize(c.Log.DiskBudget) }},
		{Name: "LOG_MIN_FREE", Area: "logs", Default: "0", Form: SizeForm + ", at most 1024TiB",
			Doc: "free space kept on the log filesystem; below it file writes are dropped and counted",
			set: func(c *Config, v string) error { return setBoundedSize(&c.Log.MinFree, v, 0, MaxDiskSize) },
			get: func(c *Config) string { return FormatSize(c.Log.MinFree) }},
		{Name: "LOG_RATE", Area: "logs", Default: "0", Form: SizeForm + " per second, at most 1TiB",
			Doc: "console bytes per second per program; the excess is dropped with a marker line (0: no limit)",
			set: func(c *Config, v string) error {
				return setBoundedSize(&c.Log.Rate, strings.TrimSuffix(v, "/s"), 0, MaxRate)
			},
			get: func(c *Config) string { return FormatSize(c.Log.Rate) }},
		{Name: "LOG_BURST", Area: "logs", Default: "0", Form: SizeForm + ", at most 1TiB",
			Doc: "bytes a program may send at once above LOG_RATE (0: one second's worth)",
			set: func(c *Config, v string) error { return setBoundedSize(&c.Log.Burst, v, 0, MaxRate) },
			get: func(c *Config) string { return FormatSize(c.Log.Burst) }},
		{Name: "LOG_MAX_LINE", Area: "logs", Default: "16KiB", Form: SizeForm + ", at most 16MiB",
			Doc: "longer lines are split into pieces marked partial",
			set: func(c *Config, v string) error {
				var n int64
				if err := setBoundedSize(&n, v, 1, MaxLine); err != nil {
					return err
				}
				c.Log.MaxLine = int(n)
				return nil
			},
			get: func(c *Config) string { return FormatSize(int64(c.Log.MaxLine)) }},
		{Name: "LOG_MULTILINE", Area: "logs", Form: "empty or java", AllowEmpty: true,
			Doc: "java joins stack traces into the record of the line before them (json, files' records, Fluentd)",
			set: func(c *Config, v string) error { return setEnum(&c.Log.Multiline, v, "", "java") },
			get: func(c *Config) string { return c.Log.Multiline }},
		{Name: "LOG_MODE", Area: "logs", Default: ModeBlocking, Form: "blocking or non-blocking",
			Doc: "blocking slows a program down when a sink cannot keep up; non-blocking drops and counts",
			set: func(c *Config, v string) error {
				return setEnum(&c.Log.Mode, v, ModeBlocking, ModeNonBlocking)
			},
			get: func(c *Config) string { return c.Log.Mode }},
		{Name: "LOG_BUFFER", Area: "logs", Default: "1MiB", Form: SizeForm + ", at most 256MiB",
			Doc: "per-sink queue in non-blocking mode",
			set: func(c *Config, v string) error { return setBoundedSize(&c.Log.Buffer, v, 1, MaxLogBuffer) },
			get: func(c *Config) string { return FormatSize(c.Log.Buffer) }},
		{Name: "LOG_WATCH", Area: "logs", Form: "comma-separated absolute paths, directories or globs, and/or auto", AllowEmpty: true,
			Doc: "files the programs write themselves (such as `/app/logs/*.log,/app/dumps`), kept under LOG_DISK_BUDGET and LOG_MIN_FREE with tend's files: oldest closed files are deleted first, files still open are truncated; auto finds the files the programs hold open for writing, and their rotated siblings",
			set: func(c *Config, v string) error { return setWatch(&c.Log.Watch, v) },
			get: func(c *Config) string { return strings.Join(c.Log.Watch, ",") }},
		{Name: "LOG_TAIL", Area: "logs", Default: "false", Form: formBool,
			Doc: "also send new lines of watched files to the console and Fluentd (not to LOG_DIR), with stream `file`, as the program holding the file (auto) or the file's name up to its first dot; follows rotation by rename and copytruncate",
			set: func(c *Config, v string) error { return setBool(&c.Log.Tail, v) },
			get: func(c *Config) string { return strconv.FormatBool(c.Log.Tail) }},
		{Name: "ON_LOG_CLEANUP", Area: "logs", Form: formCommand, AllowEmpty: true,
			Doc: "command run after each deletion or truncation done for the disk limits, one at a time, never holding up logs (TEND_CLEANUP_FILE, _BYTES, _REASON, _ACTION, _PROGRAM in its environment)",
			set: func(c *Config, v string) error { return setCommand(&c.Log.OnCleanup, v) },
			get: func(c *Config) string { return JoinCommand(c.Log.OnCleanup) }},

		// fluentd
		{Name: "FLUENT_ADDR", Area: "fluentd", Form: "host:port or unix:///path", AllowEmpty: true,
			Doc: "forward every record to this Fluentd or Fluent Bit forward input",
			set: func(c *Config, v string) error { return setFluentAddr(&c.Fluent.Addr, v) },
			get: func(c *Config) string { return c.Fluent.Addr }},
		{Name: "FLUENT_TAG", Area: "fluentd", Default: "tend.{program}.{stream}", Form: "a tag without spaces, may use {program} and {stream}",
			Doc: "tag of forwarded records; {stream} is stdout, stderr, or file for tailed files",
			set: func(c *Config, v string) error { return setFluentTag(&c.Fluent.Tag, v) },
			get: func(c *Config) string { return c.Fluent.Tag }},
		{Name: "FLUENT_BUFFER", Area: "fluentd", Default: "8MiB", Form: SizeForm + ", from 64KiB to 256MiB",
			Doc: "memory for records on their way to Fluentd, taken as it is used: while the receiver takes records, a program writing faster fills it, then the spool, and is then slowed down (TEND_LOG_MODE=blocking); while it is down or takes nothing, the spool takes the rest, and past it records are dropped and counted",
			set: func(c *Config, v string) error { return setFluentBuffer(&c.Fluent.Buffer, v) },
			get: func(c *Config) string { return FormatSize(c.Fluent.Buffer) }},
		{Name: "FLUENT_SPOOL", Area: "fluentd", Form: formPath + " of a directory, or off", AllowEmpty: true,
			Doc: "directory of chunk files holding what does not fit in FLUENT_BUFFER (an outage), under LOG_DISK_BUDGET and LOG_MIN_FREE, sent in order once the receiver is back and after a restart on the same volume; unset, LOG_DIR/fluent-spool when LOG_DIR is set",
			set: func(c *Config, v string) error { return setFluentSpool(&c.Fluent.Spool, v) },
			get: func(c *Config) string { return c.Fluent.Spool }},
		{Name: "FLUENT_SPOOL_SIZE", Area: "fluentd", Default: "256MiB", Form: SizeForm + ", from 1MiB to 1024TiB",
			Doc: "cap on the spool's chunk files; when full, the oldest chunks are dropped and counted (while the receiver takes records, programs are slowed down instead)",
			set: func(c *Config, v string) error { return setBoundedSize(&c.Fluent.SpoolSize, v, 1<<20, MaxDiskSize) },
			get: func(c *Config) string { return FormatSize(c.Fluent.SpoolSize) }},
		{Name: "FLUENT_ACK", Area: "fluentd", Default: "false", Form: formBool,
			Doc: "ask the receiver to acknowledge every chunk of records (forward protocol chunk ack): at-least-once delivery, exactly once while no connection fails",
			set: func(c *Config, v string) error { return setBool(&c.Fluent.Ack, v) },
			get: func(c *Config) string { return strconv.FormatBool(c.Fluent.Ack) }},
		{Name: "FLUENT_TLS", Area: "fluentd", Default: "false", Form: formBool,
			Doc: "connect over TLS (in_forward's `<transport tls>`), checking the receiver's certificate against FLUENT_TLS_CA or the system's roots",
			set: func(c *Config, v string) error { return setBool(&c.Fluent.TLS, v) },
			get: func(c *Config) string { return strconv.FormatBool(c.Fluent.TLS) }},
		{Name: "FLUENT_TLS_CA", Area: "fluentd", Form: formPath + " of a PEM file", AllowEmpty: true,
			Doc: "certificates that may sign the receiver's (unset: the system's roots)",
			set: func(c *Config, v string) error { return setPath(&c.Fluent.TLSCA, v) },
			get: func(c *Config) string { return c.Fluent.TLSCA }},
		{Name: "FLUENT_TLS_CERT", Area: "fluentd", Form: formPath + " of a PEM file", AllowEmpty: true,
			Doc: "tend's client certificate, for a receiver that checks clients (mutual TLS); with FLUENT_TLS_KEY",
			set: func(c *Config, v string) error { return setPath(&c.Fluent.TLSCert, v) },
			get: func(c *Config) string { return c.Fluent.TLSCert }},
		{Name: "FLUENT_TLS_KEY", Area: "fluentd", Form: formPath + " of a PEM file", AllowEmpty: true,
			Doc: "the private key of FLUENT_TLS_CERT",
			set: func(c *Config, v string) error { return setPath(&c.Fluent.TLSKey, v) },
			get: func(c *Config) string { return c.Fluent.TLSKey }},
		{Name: "FLUENT_SHARED_KEY", Area: "fluentd", Form: "the shared_key of the receiver's `<security>` section", AllowEmpty: true,
			Doc: "run in_forward's shared-key handshake on every connection; `tend check` shows (set), never the key",
			set: func(c *Config, v string) error { c.Fluent.SharedKey = v; return nil },
			get: func(c *Config) string {
				if c.Fluent.SharedKey != "" {
					return "(set)"
				}
				return ""
			}},
		{Name: "FLUENT_HOSTNAME", Area: "fluentd", Form: "a host name", AllowEmpty: true,
			Doc: "the self_hostname tend gives in the shared-key handshake (unset: the host name)",
			set: func(c *Config, v string) error { c.Fluent.Hostname = strings.TrimSpace(v); return nil },
			get: func(c *Config) string { return c.Fluent.Hostname }},

		// admin
		{Name: "SOCKET", Area: "admin", Default: DefaultSocket, Form: formSocket,
			Doc: "unix socket (mode 0600) of the control commands; tend refuses to start when another tend answers on it or the path holds anything but a stale socket",
			set: func(c *Config, v string) error { return setPath(&c.Admin.Socket, v) },
			get: func(c *Config) string { return c.Admin.Socket }},
		{Name: "HTTP_ADDR", Area: "admin", Form: "host:port, such as :9090", AllowEmpty: true,
			Doc: "serve /healthz, /readyz, /metrics and /status here (off unless set); at most 64 connections at once, the longest idle one closed to make room for a new one; 5s to send the request headers, 10s for the whole request and for the answer, keep-alive connections closed after 5s idle",
			set: func(c *Config, v string) error { return setHostPort(&c.Admin.HTTPAddr, v) },
			get: func(c *Config) string { return c.Admin.HTTPAddr }},
		{Name: "EVENT_FORMAT", Area: "admin", Default: "text", Form: "text or json",
			Doc: "format of tend's own event lines on stderr",
			set: func(c *Config, v string) error { return setEnum(&c.Events.Format, v, "text", "json") },
			get: func(c *Config) string { return c.Events.Format }},
		{Name: "EVENT_LEVEL", Area: "admin", Default: "warn", Form: formLevel,
			Doc: "least severe of tend's own events that is printed (info shows starts, exits, signals and stop phases)",
			set: func(c *Config, v string) error {
				return setEnum(&c.Events.Level, v, "debug", "info", "warn", "error")
			},
			get: func(c *Config) string { return c.Events.Level }},

		// java
		{Name: "JAVA_AUTOTUNE", Area: "java", Default: "false", Form: formBool,
			Doc: "size the JVM heap from the container's cgroup limits (adds to JAVA_TOOL_OPTIONS)",
			set: func(c *Config, v string) error { return setBool(&c.JavaAutotune, v) },
			get: func(c *Config) string { return strconv.FormatBool(c.JavaAutotune) }},

		// memory
		{Name: "MEMORY_WARN", Area: "memory", Default: "0.9", Form: formShare,
			Doc: "warn when the container's working set stays above this share of its memory limit for 3s: one warning per episode (it ends 5% below), with the programs using most; 0: off; no warning without a memory limit",
			set: func(c *Config, v string) error { return setShare(&c.Memory.Warn, v) },
			get: func(c *Config) string { return strconv.FormatFloat(c.Memory.Warn, 'g', -1, 64) }},
		{Name: "ON_MEMORY_PRESSURE", Area: "memory", Form: formCommand, AllowEmpty: true,
			Doc: "command run once per memory warning, its output logged as program pressure, never holding anything up (TEND_MEMORY_WORKING_SET, _LIMIT in bytes and _TOP, such as `main=512000000,agent=30000000`, in its environment)",
			set: func(c *Config, v string) error { return setCommand(&c.Memory.OnPressure, v) },
			get: func(c *Config) string { return JoinCommand(c.Memory.OnPressure) }},
		{Name: "ON_OOM", Area: "memory", Form: formCommand, AllowEmpty: true,
			Doc: "command run after each OOM kill, its output logged as program oom, never holding anything up (TEND_OOM_PROGRAM, _PID, _COMMAND, and _LIMIT and _PEAK in bytes, in its environment); OOM kills are always named in an error event, `tend status` and /metrics",
			set: func(c *Config, v string) error { return setCommand(&c.Memory.OnOOM, v) },
			get: func(c *Config) string { return JoinCommand(c.Memory.OnOOM) }},
		{Name: "CGROUP_ROOT", Area: "memory", Default: "/sys/fs/cgroup", Form: formPath,
			Doc: "where the cgroup filesystem is mounted, for the memory watch; leave it unset: tests set it to read cgroup files laid out as the kernel lays them out",
			set: func(c *Config, v string) error { return setPath(&c.Memory.CgroupRoot, v) },
			get: func(c *Config) string { return c.Memory.CgroupRoot }},
	}
}

func setEnum(dst *string, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			*dst = v
			return nil
		}
	}
	return fmt.Errorf("not one of the allowed values")
}

func setBool(dst *bool, v string) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "on":
		*dst = true
	case "false", "0", "no", "off":
		*dst = false
	default:
		return fmt.Errorf("not a boolean")
	}
	return nil
}

func setInt(dst *int, v string, min int) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("not a whole number")
	}
	if n < min {
		return fmt.Errorf("less than %d", min)
	}
	*dst = n
	return nil
}

// setBoundedInt is setInt with an upper bound.
func setBoundedInt(dst *int, v string, min, max int) error {
	var n int
	if err := setInt(&n, v, min); err != nil {
		return err
	}
	if n > max {
		return fmt.Errorf("more than the limit of %d", max)
	}
	*dst = n
	return nil
}

// setShare reads a share of a whole, from 0 to 1, written as a fraction
// (0.9) or a percentage (90%).
func setShare(dst *float64, v string) error {
	t := strings.TrimSpace(v)
	scale := 1.0
	if rest, ok := strings.CutSuffix(t, "%"); ok {
		t, scale = strings.TrimSpace(rest), 100
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) {
		return fmt.Errorf("not a number")
	}
	f /= scale
	if f < 0 || f > 1 {
		return fmt.Errorf("not between 0 and 1 (0%% and 100%%)")
	}
	*dst = f
	return nil
}

func setDuration(dst *time.Duration, v string) error {
	d, err := ParseDuration(v)
	if err != nil {
		return err
	}
	*dst = d
	return nil
}

func setPositiveDuration(dst *time.Duration, v string) error {
	d, err := ParseDuration(v)
	if err != nil {
		return err
	}
	if d == 0 {
		return fmt.Errorf("must be more than zero")
	}
	*dst = d
	return nil
}

// setBoundedSize parses a size from min (0 or 1) to max bytes.
func setBoundedSize(dst *int64, v string, min, max int64) error {
	n, err := ParseSize(v)
	if err != nil {
		return err
	}
	if n < min {
		return fmt.Errorf("must be more than zero")
	}
	if n > max {
		return fmt.Errorf("more than the limit of %s", FormatSize(max))
	}
	*dst = n
	return nil
}

func setPath(dst *string, v string) error {
	if v != "" && !strings.HasPrefix(v, "/") {
		return fmt.Errorf("not an absolute path")
	}
	*dst = v
	return nil
}

func setCommand(dst *[]string, v string) error {
	argv, err := SplitCommand(v)
	if err != nil {
		return err
	}
	*dst = argv
	return nil
}

func setPorts(dst *[]int, v string) error {
	var ports []int
	for _, f := range splitList(v) {
		p, err := strconv.Atoi(f)
		if err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("%q is not a TCP port", f)
		}
		ports = append(ports, p)
	}
	*dst = ports
	return nil
}

func setExitMap(dst *map[int]int, v string) error {
	m := map[int]int{}
	seen := map[int]string{}
	for _, f := range splitList(v) {
		from, to, ok := strings.Cut(f, ":")
		a, errA := strconv.Atoi(strings.TrimSpace(from))
		b, errB := strconv.Atoi(strings.TrimSpace(to))
		if !ok || errA != nil || errB != nil || a < 0 || a > 255 || b < 0 || b > 255 {
			return fmt.Errorf("%q is not FROM:TO with codes 0 to 255", f)
		}
		if first, dup := seen[a]; dup {
			return fmt.Errorf("exit code %d is mapped twice (%s and %s)", a, first, f)
		}
		seen[a] = f
		m[a] = b
	}
	*dst = m
	return nil
}

func setHTTPHook(dst **HTTPRequest, v string) error {
	v = strings.TrimSpace(v)
	if v == "" {
		*dst = nil
		return nil
	}
	fields := strings.SplitN(v, " ", 3)
	if len(fields) < 2 {
		return fmt.Errorf("missing the URL")
	}
	method := strings.ToUpper(fields[0])
	switch method {
	case "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD":
	default:
		return fmt.Errorf("%q is not an HTTP method", fields[0])
	}
	url := fields[1]
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return fmt.Errorf("%q is not an http:// or https:// URL", url)
	}
	h := &HTTPRequest{Method: method, URL: url}
	if len(fields) == 3 {
		h.Body = strings.TrimSpace(fields[2])
	}
	*dst = h
	return nil
}

func setFluentAddr(dst *string, v string) error {
	if v == "" {
		*dst = ""
		return nil
	}
	if strings.HasPrefix(v, "unix://") {
		if !strings.HasPrefix(strings.TrimPrefix(v, "unix://"), "/") {
			return fmt.Errorf("unix socket path must be absolute")
		}
		*dst = v
		return nil
	}
	return setHostPort(dst, v)
}

// setWatch checks TEND_LOG_WATCH: auto, or absolute paths and globs.
func setWatch(dst *[]string, v string) error {
	list := splitList(v)
	for _, p := range list {
		if p == "auto" {
			continue
		}
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("%q is neither auto nor an absolute path", p)
		}
		if _, err := filepath.Match(p, ""); err != nil {
			return fmt.Errorf("%q is not a valid glob", p)
		}
	}
	*dst = list
	return nil
}

// setFluentTag checks a tag template: no spaces, only {program} and
// {stream} between braces.
func setFluentTag(dst *string, v string) error {
	if v == "" || strings.ContainsAny(v, " \t") {
		return fmt.Errorf("a tag must be non-empty and without spaces")
	}
	// Two ReplaceAll, not a strings.Replacer: building a Replacer's trie
	// costs every start of tend, and this runs for the default tag too.
	rest := strings.ReplaceAll(strings.ReplaceAll(v, "{program}", ""), "{stream}", "")
	if strings.ContainsAny(rest, "{}") {
		return fmt.Errorf("only {program} and {stream} may appear between braces")
	}
	*dst = v
	return nil
}

func setHostPort(dst *string, v string) error {
	if v == "" {
		*dst = ""
		return nil
	}
	i := strings.LastIndex(v, ":")
	if i < 0 {
		return fmt.Errorf("missing :port")
	}
	p, err := strconv.Atoi(v[i+1:])
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q is not a port", v[i+1:])
	}
	*dst = v
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func formatExitMap(m map[int]int) string {
	var parts []string
	for from := 0; from < 256; from++ {
		if to, ok := m[from]; ok {
			parts = append(parts, fmt.Sprintf("%d:%d", from, to))
		}
	}
	return strings.Join(parts, ",")
}

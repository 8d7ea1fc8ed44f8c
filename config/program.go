package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ProgramKey describes one per-program key, valid in a conf.d
// [program:NAME] section and as TEND_<NAME>_<KEY>.
type ProgramKey struct {
	// Name is the key as written in conf.d files, such as "stopwaitsecs".
	Name string
	// Default is the value used when the key is not given.
	Default string
	// Form is the expected form, used in error messages.
	Form string
	// Doc says what the key does.
	Doc string

	set func(p *Program, v string) error
	get func(p *Program) string
}

// Value renders the key's effective value in p.
func (k ProgramKey) Value(p *Program) string { return k.get(p) }

// ignoredKeys are supervisord keys tend reads without acting on them; each
// use is reported as a warning, never silently dropped.
var ignoredKeys = map[string]string{
	"process_name":             "one process per program",
	"numprocs":                 "one process per program",
	"numprocs_start":           "one process per program",
	"umask":                    "programs inherit tend's umask",
	"serverurl":                "tend has no XML-RPC server",
	"stdout_logfile":           "use TEND_LOG_DIR",
	"stdout_logfile_maxbytes":  "use TEND_LOG_FILE_SIZE",
	"stdout_logfile_backups":   "use TEND_LOG_FILE_COUNT",
	"stdout_capture_maxbytes":  "no capture mode",
	"stdout_events_enabled":    "no event listeners",
	"stdout_syslog":            "no syslog output",
	"stderr_logfile":           "use TEND_LOG_DIR",
	"stderr_logfile_maxbytes":  "use TEND_LOG_FILE_SIZE",
	"stderr_logfile_backups":   "use TEND_LOG_FILE_COUNT",
	"stderr_capture_maxbytes":  "no capture mode",
	"stderr_events_enabled":    "no event listeners",
	"stderr_syslog":            "no syslog output",
	"stdout_logfile_max_bytes": "use TEND_LOG_FILE_SIZE",
}

// ProgramKeys returns the table of per-program keys, in documentation order.
func ProgramKeys() []ProgramKey {
	return []ProgramKey{
		{Name: "command", Form: formCommand,
			Doc: "the program and its arguments (split like a shell, no expansion)",
			set: func(p *Program, v string) error {
				argv, err := SplitCommand(v)
				if err != nil {
					return err
				}
				if len(argv) == 0 {
					return fmt.Errorf("empty command")
				}
				p.Command = argv
				return nil
			},
			get: func(p *Program) string { return JoinCommand(p.Command) }},
		{Name: "directory", Form: formPath, Doc: "working directory",
			set: func(p *Program, v string) error { return setPath(&p.Directory, v) },
			get: func(p *Program) string { return p.Directory }},
		{Name: "user", Form: formUser, Doc: "run as this user and its groups (tend stays root)",
			set: func(p *Program, v string) error { p.User = v; return nil },
			get: func(p *Program) string { return p.User }},
		{Name: "environment", Form: `KEY="value",KEY2="value2"`, Doc: "variables added to the program's environment",
			set: func(p *Program, v string) error {
				env, err := parseEnvironment(v)
				if err != nil {
					return err
				}
				p.Environment = env
				return nil
			},
			get: func(p *Program) string { return strings.Join(p.Environment, ",") }},
		{Name: "priority", Default: "999", Form: "a whole number", Doc: "start order, low first; stop order is the reverse",
			set: func(p *Program, v string) error {
				n, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil {
					return fmt.Errorf("not a whole number")
				}
				p.Priority = n
				return nil
			},
			get: func(p *Program) string { return strconv.Itoa(p.Priority) }},
		{Name: "depends_on", Form: "comma-separated program names", Doc: "programs that must be ready before this one starts",
			set: func(p *Program, v string) error { p.DependsOn = splitList(v); return nil },
			get: func(p *Program) string { return strings.Join(p.DependsOn, ",") }},
		{Name: "wait_for", Form: formDepends,
			Doc: "outside services that must answer before each start, checked together, each with backoff, within TEND_WAIT_TIMEOUT; the program is WAITING meanwhile and, when the time runs out, FATAL (the main program ends tend with exit 1)",
			set: func(p *Program, v string) error { return setDependencies(&p.WaitFor, v) },
			get: func(p *Program) string { return JoinDependencies(p.WaitFor) }},
		{Name: "ready", Form: "tcp:PORT, tcp:HOST:PORT, http://host:port/path or exec:COMMAND",
			Doc: "readiness probe; without one a program is ready once it has run startsecs",
			set: func(p *Program, v string) error { return setProbe(&p.Ready, v) },
			get: func(p *Program) string { return formatProbe(p.Ready) }},
		{Name: "autostart", Default: "true", Form: formBool, Doc: "start with tend; false waits for `tend start NAME`",
			set: func(p *Program, v string) error { return setBool(&p.AutoStart, v) },
			get: func(p *Program) string { return strconv.FormatBool(p.AutoStart) }},
		{Name: "autorestart", Default: RestartUnexpected, Form: "true, false or unexpected",
			Doc: "restart after an exit: always, never, or when the exit code is not in exitcodes",
			set: func(p *Program, v string) error {
				return setEnum(&p.AutoRestart, strings.ToLower(v), RestartAlways, RestartNever, RestartUnexpected)
			},
			get: func(p *Program) string { return p.AutoRestart }},
		{Name: "exitcodes", Default: "0", Form: "comma-separated exit codes", Doc: "expected exit codes for autorestart=unexpected",
			set: func(p *Program, v string) error {
				var codes []int
				for _, f := range splitList(v) {
					n, err := strconv.Atoi(f)
					if err != nil || n < 0 || n > 255 {
						return fmt.Errorf("%q is not an exit code", f)
					}
					codes = append(codes, n)
				}
				p.ExitCodes = codes
				return nil
			},
			get: func(p *Program) string { return joinInts(p.ExitCodes) }},
		{Name: "startsecs", Default: "1", Form: DurationForm, Doc: "how long a program must run to count as started",
			set: func(p *Program, v string) error { return setDuration(&p.StartPeriod, v) },
			get: func(p *Program) string { return p.StartPeriod.String() }},
		{Name: "startretries", Default: "3", Form: "a whole number, 0 or more", Doc: "quick failures in a row before the program is FATAL",
			set: func(p *Program, v string) error { return setInt(&p.StartRetries, v, 0) },
			get: func(p *Program) string { return strconv.Itoa(p.StartRetries) }},
		{Name: "stopsignal", Default: "TERM", Form: "a signal name such as TERM, INT, QUIT, HUP, USR1",
			Doc: "signal sent first on stop",
			set: func(p *Program, v string) error {
				sig, err := ParseSignal(v)
				if err != nil {
					return err
				}
				p.StopSignal = sig
				return nil
			},
			get: func(p *Program) string { return SignalName(p.StopSignal) }},
		{Name: "stopwaitsecs", Default: "10", Form: DurationForm, Doc: "wait after the stop signal before the kill",
			set: func(p *Program, v string) error { return setDuration(&p.StopWait, v) },
			get: func(p *Program) string { return p.StopWait.String() }},
		{Name: "stopasgroup", Default: "false", Form: formBool, Doc: "send the stop signal to the whole process group",
			set: func(p *Program, v string) error { return setBool(&p.StopAsGroup, v) },
			get: func(p *Program) string { return strconv.FormatBool(p.StopAsGroup) }},
		{Name: "killasgroup", Default: "true", Form: formBool, Doc: "send the final SIGKILL to the whole process group",
			set: func(p *Program, v string) error { return setBool(&p.KillAsGroup, v) },
			get: func(p *Program) string { return strconv.FormatBool(p.KillAsGroup) }},
		{Name: "critical", Default: "false", Form: formBool, Doc: "stop the container when this program becomes FATAL",
			set: func(p *Program, v string) error { return setBool(&p.Critical, v) },
			get: func(p *Program) string { return strconv.FormatBool(p.Critical) }},
		{Name: "redirect_stderr", Default: "false", Form: formBool, Doc: "merge stderr into stdout",
			set: func(p *Program, v string) error { return setBool(&p.RedirectStderr, v) },
			get: func(p *Program) string { return strconv.FormatBool(p.RedirectStderr) }},
		{Name: "log_rate", Default: "-1", Form: SizeForm + " per second, at most 1TiB, or -1 to inherit TEND_LOG_RATE",
			Doc: "console rate limit of this program",
			set: func(p *Program, v string) error { return setInheritableSize(&p.LogRate, strings.TrimSuffix(v, "/s")) },
			get: func(p *Program) string { return formatInheritableSize(p.LogRate) }},
		{Name: "log_burst", Default: "-1", Form: SizeForm + ", at most 1TiB, or -1 to inherit TEND_LOG_BURST",
			Doc: "console burst of this program",
			set: func(p *Program, v string) error { return setInheritableSize(&p.LogBurst, v) },
			get: func(p *Program) string { return formatInheritableSize(p.LogBurst) }},
		{Name: "log_multiline", Default: "-", Form: "empty, java, or - to inherit TEND_LOG_MULTILINE",
			Doc: "stack-trace joining of this program",
			set: func(p *Program, v string) error { return setEnum(&p.LogMultiline, v, "-", "", "java") },
			get: func(p *Program) string { return p.LogMultiline }},
	}
}

// MaxNameLength bounds a program name: it becomes part of file names,
// variable names and metric labels.
const MaxNameLength = 64

// formName describes a valid program name.
const formName = "lower-case letters and digits, starting with a letter, at most 64 characters"

// ValidName reports whether s is a valid program name: lower-case ASCII
// letters and digits, starting with a letter, at most MaxNameLength long.
func ValidName(s string) bool { return checkName(s) == nil }

// checkName says why s is not a valid program name.
func checkName(s string) error {
	if !nameChars(s) {
		return fmt.Errorf("not a program name")
	}
	if len(s) > MaxNameLength {
		return fmt.Errorf("program name of %d characters, more than the limit of %d", len(s), MaxNameLength)
	}
	return nil
}

// nameChars reports whether s is lower-case ASCII letters and digits,
// starting with a letter, whatever its length.
func nameChars(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= 'a' && s[i] <= 'z' || s[i] >= '0' && s[i] <= '9') {
			return false
		}
	}
	return true
}

// newProgram returns a program with every key at its default.
func newProgram(name string, keys []ProgramKey) Program {
	p := Program{Name: name}
	for _, k := range keys {
		if k.Default != "" {
			if err := k.set(&p, k.Default); err != nil {
				panic(fmt.Sprintf("default of %s: %v", k.Name, err))
			}
		}
	}
	return p
}

func setInheritableSize(dst *int64, v string) error {
	if strings.TrimSpace(v) == "-1" {
		*dst = -1
		return nil
	}
	return setBoundedSize(dst, v, 0, MaxRate)
}

func formatInheritableSize(n int64) string {
	if n < 0 {
		return "-1"
	}
	return FormatSize(n)
}

func setProbe(dst *Probe, v string) error {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		*dst = Probe{}
	case strings.HasPrefix(v, "tcp:"):
		addr := strings.TrimPrefix(v, "tcp:")
		if !strings.Contains(addr, ":") {
			addr = "127.0.0.1:" + addr
		}
		i := strings.LastIndex(addr, ":")
		if p, err := strconv.Atoi(addr[i+1:]); err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("%q is not a TCP port", addr[i+1:])
		}
		*dst = Probe{Kind: ProbeTCP, Address: addr}
	case strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://"):
		u, err := url.Parse(v)
		if err != nil || u.Host == "" {
			return fmt.Errorf("not a valid URL")
		}
		*dst = Probe{Kind: ProbeHTTP, Address: v}
	case strings.HasPrefix(v, "exec:"):
		argv, err := SplitCommand(strings.TrimPrefix(v, "exec:"))
		if err != nil {
			return err
		}
		if len(argv) == 0 {
			return fmt.Errorf("empty command")
		}
		*dst = Probe{Kind: ProbeExec, Command: argv}
	default:
		return fmt.Errorf("unknown probe")
	}
	return nil
}

func formatProbe(p Probe) string {
	switch p.Kind {
	case ProbeTCP:
		return "tcp:" + p.Address
	case ProbeHTTP:
		return p.Address
	case ProbeExec:
		return "exec:" + JoinCommand(p.Command)
	}
	return ""
}

// parseEnvironment reads supervisord's environment form:
// KEY="value",KEY2='value 2',KEY3=plain. Quoted values may hold commas.
func parseEnvironment(v string) ([]string, error) {
	var env []string
	s := strings.TrimSpace(v)
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("%q is not KEY=value", s)
		}
		key := strings.TrimSpace(s[:eq])
		if strings.ContainsAny(key, " \t,\"'") {
			return nil, fmt.Errorf("%q is not a variable name", key)
		}
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if s != "" && (s[0] == '"' || s[0] == '\'') {
			end := strings.IndexByte(s[1:], s[0])
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote in the value of %s", key)
			}
			val, s = s[1:end+1], s[end+2:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val, s = strings.TrimSpace(s[:end]), s[end:]
		}
		env = append(env, key+"="+val)
		s = strings.TrimSpace(s)
		if s != "" {
			if s[0] != ',' {
				return nil, fmt.Errorf("expected a comma after the value of %s", key)
			}
			s = strings.TrimSpace(s[1:])
		}
	}
	return env, nil
}

// ParseSignal reads a signal name ("TERM", "SIGTERM", "term") or number.
func ParseSignal(v string) (syscall.Signal, error) {
	t := strings.ToUpper(strings.TrimSpace(v))
	if n, err := strconv.Atoi(t); err == nil {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("signal number out of range")
		}
		return syscall.Signal(n), nil
	}
	if !strings.HasPrefix(t, "SIG") {
		t = "SIG" + t
	}
	sig := unix.SignalNum(t)
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal")
	}
	return sig, nil
}

// SignalName returns the short name of sig, such as "TERM".
func SignalName(sig syscall.Signal) string {
	if name := unix.SignalName(sig); name != "" {
		return strings.TrimPrefix(name, "SIG")
	}
	return strconv.Itoa(int(sig))
}

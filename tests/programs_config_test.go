package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Every kind of invalid program definition stops tend before it starts
// anything, with exit code 2 and a message that names the file and line
// (or the variable), the value seen and what was expected.
func TestConfigErrorsExitTwoBeforeStartingAnything(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		files map[string]string
		env   []string
		want  []string
	}{
		{"syntax error",
			map[string]string{"agent.conf": "[program:agent]\ncommand = sleep 1\nautostart\n"}, nil,
			[]string{`agent.conf:3="autostart": expected key = value`}},
		{"unknown key",
			map[string]string{"agent.conf": "[program:agent]\ncommand = sleep 1\nstopwaitsec = 5\n"}, nil,
			[]string{`agent.conf:3="5": unknown key stopwaitsec; did you mean stopwaitsecs?`}},
		{"duplicate program",
			map[string]string{"10-base.conf": "[program:agent]\ncommand = sleep 1\n", "20-app.conf": "; again\n[program:agent]\ncommand = sleep 2\n"}, nil,
			[]string{`20-app.conf:2="agent": duplicate program, first defined at `, `10-base.conf:1`}},
		{"missing command",
			map[string]string{"agent.conf": "[program:agent]\npriority = 5\n"}, nil,
			[]string{`agent.conf:1="[program:agent]": program agent has no command; expected command = ... or TEND_AGENT_COMMAND`}},
		{"nonexistent user",
			map[string]string{"agent.conf": "[program:agent]\ncommand = sleep 1\nuser = no-such-user-tend\n"}, nil,
			[]string{`agent.conf:3="no-such-user-tend": no such user; expected a user that exists`}},
		{"depends_on cycle",
			map[string]string{"ab.conf": "[program:a]\ncommand = sleep 1\ndepends_on = b\n[program:b]\ncommand = sleep 1\ndepends_on = a\n"}, nil,
			[]string{`ab.conf:`, `depends_on cycle: a -> b -> a`}},
		{"unknown dependency",
			map[string]string{"agent.conf": "[program:agent]\ncommand = sleep 1\ndepends_on = registry\n"}, nil,
			[]string{`agent.conf:3="registry": unknown dependency registry`}},
		{"invalid value in a file",
			map[string]string{"agent.conf": "[program:agent]\ncommand = sleep 1\nstartsecs = soon\n"}, nil,
			[]string{`agent.conf:3="soon": `, `; expected a duration such as 10s`}},
		{"invalid ready probe",
			map[string]string{"agent.conf": "[program:agent]\ncommand = sleep 1\nready = udp:53\n"}, nil,
			[]string{`agent.conf:3="udp:53": unknown probe; expected tcp:PORT`}},
		{"invalid program name",
			map[string]string{"agent.conf": "[program:my-agent]\ncommand = sleep 1\n"}, nil,
			[]string{`agent.conf:1="my-agent": invalid program name; expected lower-case letters and digits`}},
		{"program named like a setting in a file",
			map[string]string{"log.conf": "[program:log]\ncommand = sleep 1\n"}, nil,
			[]string{`log.conf:1="log": program name collides with the TEND_LOG_... settings`}},
		{"program named like a setting in the environment",
			nil, []string{"TEND_LOG_COMMAND=sleep 1"},
			[]string{`TEND_LOG_COMMAND="sleep 1": no program can be called log`}},
		{"unset %(ENV_X)s",
			map[string]string{"agent.conf": "[program:agent]\ncommand = agent --home %(ENV_NOT_SET_FOR_TEND)s\n"}, nil,
			[]string{`agent.conf:2="agent --home %(ENV_NOT_SET_FOR_TEND)s": environment variable NOT_SET_FOR_TEND is not set`}},
		{"invalid value in the environment",
			nil, []string{"TEND_AGENT_COMMAND=sleep 1", "TEND_AGENT_STARTSECS=soon"},
			[]string{`TEND_AGENT_STARTSECS="soon": `, `; expected a duration such as 10s`}},
		{"key of an undefined program",
			nil, []string{"TEND_AGENT_COMMAND=sleep 1", "TEND_AGNET_USER=nobody"},
			[]string{`TEND_AGNET_USER="nobody": no program agnet is defined`, `did you mean TEND_AGENT_USER?`}},
		{"unknown variable",
			nil, []string{"TEND_STOP_TIMEOUTS=5s"},
			[]string{`TEND_STOP_TIMEOUTS="5s": unknown variable; did you mean TEND_STOP_TIMEOUT?`}},
		{"invalid setting",
			nil, []string{"TEND_MAIN_ON_EXIT=stay"},
			[]string{`TEND_MAIN_ON_EXIT="stay": `, `expected one of exit, restart, hold`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			files := map[string]string{
				// A valid program next to the invalid one must not start either.
				"00-witness.conf": fmt.Sprintf("[program:witness]\ncommand = touch %s\nstartsecs = 0\n", filepath.Join(dir, "witness-ran")),
			}
			for k, v := range tc.files {
				files[k] = v
			}
			code, stdout, stderr := runTend(t, tendOptions{
				Args: []string{"--", "touch", filepath.Join(dir, "main-ran")},
				Env:  append([]string{writeConfD(t, files)}, tc.env...),
			}, 10*time.Second)
			if code != 2 {
				t.Errorf("exit code %d, want 2\nstderr:\n%s", code, stderr)
			}
			for _, want := range append(tc.want, "nothing was started") {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, stderr)
				}
			}
			if stdout != "" {
				t.Errorf("stdout: %q", stdout)
			}
			for _, f := range []string{"main-ran", "witness-ran"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
					t.Errorf("%s exists: a program was started", f)
				}
			}
		})
	}
}

// user= runs the program as that user, with that user's groups and
// environment, while tend stays root.
func TestProgramRunsAsItsUser(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	want := func(args ...string) string {
		out, err := exec.Command("id", args...).Output()
		if err != nil {
			t.Fatalf("id %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	wantIDs := fmt.Sprintf("ids %s %s %s", want("-u", "nobody"), want("-g", "nobody"), want("-G", "nobody"))
	conf := writeConfD(t, map[string]string{
		"who.conf": `[program:who]
command = sh -c 'echo "ids $(id -u) $(id -g) $(id -G)"; echo "env $USER $HOME"; exec sleep 60'
user = nobody
directory = /
`,
	})
	p := startTend(t, tendOptions{
		Args: []string{"--", "sh", "-c", "echo main $(id -u); exec sleep 60"},
		Env:  []string{conf},
	})
	waitFor(t, 10*time.Second, "the programs to print their ids", func() bool {
		return strings.Contains(p.Stdout(), "ids ") && strings.Contains(p.Stdout(), "env ") && strings.Contains(p.Stdout(), "main ")
	})
	out := p.Stdout()
	if !strings.Contains(out, wantIDs+"\n") {
		t.Errorf("program who printed %q, want %q", out, wantIDs)
	}
	pw, err := exec.Command("getent", "passwd", "nobody").Output()
	if err != nil {
		t.Fatal(err)
	}
	home := strings.Split(strings.TrimSpace(string(pw)), ":")[5]
	if wantEnv := "env nobody " + home + "\n"; !strings.Contains(out, wantEnv) {
		t.Errorf("USER and HOME are not nobody's: %q, want %q", out, wantEnv)
	}
	if !strings.Contains(out, "main 0\n") {
		t.Errorf("the main program (no user=) should run as root: %q", out)
	}
	if st, err := os.Stat(fmt.Sprintf("/proc/%d", p.PID())); err != nil || st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("tend itself should stay root")
	}
	p.Signal(syscall.SIGTERM)
	p.Wait(10 * time.Second)
}

// The [program:x] example of supervisord's "Configuration File"
// documentation, in a complete supervisord.conf (its command, user and
// paths adapted to this machine), runs unchanged under tend: the program
// starts with its directory, user and environment, and every key and
// section tend does not act on is reported as a warning with its
// file:line. The real supervisord runs the very same file the same way.
func TestSupervisordConfFromTheDocsRunsUnchanged(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	// Unix socket paths are short: keep the directory short too.
	dir, err := os.MkdirTemp("", "svconf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	conf := strings.ReplaceAll(`[unix_http_server]
file=DIR/supervisor.sock   ; the path to the socket file

[supervisord]
logfile=DIR/supervisord.log ; main log file
pidfile=DIR/supervisord.pid
childlogdir=DIR
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://DIR/supervisor.sock

[program:cat]
command=/bin/sh -c 'echo "cat runs as $(id -un) in $(pwd) with A=$A B=$B"; exec sleep 600'
process_name=%(program_name)s
numprocs=1
directory=/tmp
umask=022
priority=999
autostart=true
autorestart=unexpected
startsecs=10
startretries=3
exitcodes=0,2
stopsignal=TERM
stopwaitsecs=10
stopasgroup=false
killasgroup=false
user=nobody
redirect_stderr=false
stdout_logfile=DIR/cat.out
stdout_logfile_maxbytes=1MB
stdout_logfile_backups=10
stdout_capture_maxbytes=1MB
stdout_events_enabled=false
stderr_logfile=DIR/cat.err
stderr_logfile_maxbytes=1MB
stderr_logfile_backups=10
stderr_capture_maxbytes=1MB
stderr_events_enabled=false
environment=A="1",B="2"
serverurl=AUTO
`, "DIR", dir)
	const wantLine = "cat runs as nobody in /tmp with A=1 B=2"

	t.Run("supervisord", func(t *testing.T) {
		t.Parallel()
		bin, err := exec.LookPath("supervisord")
		if err != nil {
			skipOrFail(t, "this test needs supervisord (the supervisor package) to compare with")
		}
		path := filepath.Join(dir, "supervisord.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-c", path)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}()
		waitFor(t, 15*time.Second, "supervisord to run cat", func() bool {
			data, _ := os.ReadFile(filepath.Join(dir, "cat.out"))
			return strings.Contains(string(data), wantLine)
		})
	})

	t.Run("tend", func(t *testing.T) {
		t.Parallel()
		confDir := writeConfD(t, map[string]string{"supervisord.conf": conf})
		p := startTend(t, tendOptions{
			Args: []string{"--", "sleep", "60"},
			Env:  []string{confDir},
		})
		waitFor(t, 10*time.Second, "cat to print its line", func() bool { return strings.Contains(p.Stdout(), wantLine) })
		st := status(t, p)
		if cat := st.program(t, "cat"); cat.Pid == 0 || (cat.State != "STARTING" && cat.State != "RUNNING") {
			t.Errorf("cat: %+v", cat)
		}
		stderr := p.Stderr()
		// lineOf returns the line of the last line starting with prefix
		// (serverurl= is in [supervisorctl] too).
		lineOf := func(prefix string) int {
			n := 0
			for i, l := range strings.Split(conf, "\n") {
				if strings.HasPrefix(l, prefix) {
					n = i + 1
				}
			}
			if n == 0 {
				t.Fatalf("no line %q", prefix)
			}
			return n
		}
		for _, key := range []string{"process_name", "numprocs", "umask", "stdout_logfile", "stdout_logfile_maxbytes",
			"stdout_logfile_backups", "stdout_capture_maxbytes", "stdout_events_enabled", "stderr_logfile",
			"stderr_logfile_maxbytes", "stderr_logfile_backups", "stderr_capture_maxbytes", "stderr_events_enabled", "serverurl"} {
			want := fmt.Sprintf("supervisord.conf:%d: %s is not supported", lineOf(key+"="), key)
			if !strings.Contains(stderr, want) {
				t.Errorf("no warning %q on stderr", want)
			}
		}
		for _, section := range []string{"unix_http_server", "supervisord", "rpcinterface:supervisor", "supervisorctl"} {
			want := fmt.Sprintf("supervisord.conf:%d: section [%s] is ignored", lineOf("["+section+"]"), section)
			if !strings.Contains(stderr, want) {
				t.Errorf("no warning %q on stderr", want)
			}
		}
		p.Signal(syscall.SIGTERM)
		if code := p.Wait(15 * time.Second); code != 128+int(syscall.SIGTERM) {
			t.Errorf("exit code %d, want the main program's (sleep killed by TERM)\nstderr:\n%s", code, stderr)
		}
	})
}

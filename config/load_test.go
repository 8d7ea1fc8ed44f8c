package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// confd writes files into a new TEND_CONFIG_DIR's conf.d and returns the
// directory.
func confd(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, "conf.d", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fakeUsers knows root, nobody and app.
func fakeUsers(name string) (*Credential, error) {
	switch name {
	case "root", "0":
		return &Credential{Name: "root", Home: "/root", Groups: []uint32{0}}, nil
	case "nobody":
		return &Credential{Name: "nobody", UID: 65534, GID: 65534, Groups: []uint32{65534}, Home: "/nonexistent"}, nil
	case "app":
		return &Credential{Name: "app", UID: 1000, GID: 1000, Groups: []uint32{1000, 27}, Home: "/home/app"}, nil
	}
	return nil, errors.New("no such user")
}

// socketPath returns a control socket path of the test's own, short
// enough for a unix socket address (t.TempDir's may not be).
func socketPath(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tsock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "tend.sock")
}

// load runs Load with the files in conf.d, the env given and a main
// program.
func load(t *testing.T, files map[string]string, env ...string) (*Config, error) {
	t.Helper()
	dir := confd(t, files)
	return Load(Options{
		Env:        append([]string{"TEND_CONFIG_DIR=" + dir, "TEND_SOCKET=" + socketPath(t), "HOME=/home/app"}, env...),
		Args:       []string{"java", "-jar", "app.jar"},
		LookupUser: fakeUsers,
	})
}

// mustLoad is load that fails the test on an error.
func mustLoad(t *testing.T, files map[string]string, env ...string) *Config {
	t.Helper()
	c, err := load(t, files, env...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// loadErrors is load that expects Errors.
func loadErrors(t *testing.T, files map[string]string, env ...string) Errors {
	t.Helper()
	c, err := load(t, files, env...)
	if err == nil {
		t.Fatalf("Load succeeded, want an error; programs: %+v", c.Programs)
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error of type %T: %v", err, err)
	}
	return es
}

// program returns the side program called name.
func program(t *testing.T, c *Config, name string) Program {
	t.Helper()
	for _, p := range c.Programs {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no program %s in %+v", name, c.Programs)
	return Program{}
}

// names returns the side programs' names in start order.
func names(c *Config) []string {
	var out []string
	for _, p := range c.Programs {
		out = append(out, p.Name)
	}
	return out
}

// only asserts that es holds one error and returns it.
func only(t *testing.T, es Errors) *Error {
	t.Helper()
	if len(es) != 1 {
		t.Fatalf("got %d errors, want 1:\n%v", len(es), es)
	}
	return es[0]
}

func TestConfDProgramKeys(t *testing.T) {
	c := mustLoad(t, map[string]string{"agent.conf": `
[program:agent]
command = /opt/agent/bin/agent --port 9000 ; the APM agent
directory = /opt/agent
user = nobody
environment = AGENT_MODE="a,b",LEVEL=info
priority = 10
ready = tcp:9000
autostart = false
autorestart = unexpected
exitcodes = 0,2
startsecs = 2.5
startretries = 5
stopsignal = INT
stopwaitsecs = 3
stopasgroup = true
killasgroup = false
critical = true
redirect_stderr = true
`})
	p := program(t, c, "agent")
	want := Program{
		Name: "agent", Command: []string{"/opt/agent/bin/agent", "--port", "9000"},
		Directory: "/opt/agent", User: "nobody", Credential: p.Credential,
		Environment: []string{"AGENT_MODE=a,b", "LEVEL=info"}, Priority: 10,
		Ready:     Probe{Kind: ProbeTCP, Address: "127.0.0.1:9000"},
		AutoStart: false, AutoRestart: RestartUnexpected, ExitCodes: []int{0, 2},
		StartPeriod: 2500 * time.Millisecond, StartRetries: 5, StopSignal: 2, StopWait: 3 * time.Second,
		StopAsGroup: true, KillAsGroup: false, Critical: true, RedirectStderr: true,
		LogRate: -1, LogBurst: -1, LogMultiline: "-", Source: p.Source,
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got  %+v\nwant %+v", p, want)
	}
	if p.Credential == nil || p.Credential.UID != 65534 {
		t.Errorf("user nobody not resolved: %+v", p.Credential)
	}
	if !strings.HasSuffix(p.Source, "agent.conf:2") {
		t.Errorf("Source = %q, want the file and line of [program:agent]", p.Source)
	}
}

func TestReadyProbeForms(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Probe
	}{
		{"tcp:8080", Probe{Kind: ProbeTCP, Address: "127.0.0.1:8080"}},
		{"tcp:db:5432", Probe{Kind: ProbeTCP, Address: "db:5432"}},
		{"http://localhost:8080/health", Probe{Kind: ProbeHTTP, Address: "http://localhost:8080/health"}},
		{"exec:test -f /tmp/ready", Probe{Kind: ProbeExec, Command: []string{"test", "-f", "/tmp/ready"}}},
	} {
		c := mustLoad(t, map[string]string{"a.conf": "[program:a]\ncommand=x\nready=" + tc.in + "\n"})
		if got := program(t, c, "a").Ready; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ready=%s: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"tcp:", "tcp:http", "tcp:70000", "udp:53", "http://", "exec:", "exec:'x"} {
		es := loadErrors(t, map[string]string{"a.conf": "[program:a]\ncommand=x\nready=" + bad + "\n"})
		if e := only(t, es); !strings.HasSuffix(e.Where, "a.conf:3") || e.Value != bad || !strings.Contains(e.Expected, "tcp:PORT") {
			t.Errorf("ready=%s: %v", bad, e)
		}
	}
}

func TestConfDExpandsReferences(t *testing.T) {
	dir := confd(t, map[string]string{"agent.conf": `
[program:agent]
command = %(here)s/agent --name %(program_name)s --home %(ENV_HOME)s --pct 100%%
`})
	c, err := Load(Options{Env: []string{"TEND_CONFIG_DIR=" + dir, "HOME=/home/app"}, LookupUser: fakeUsers})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "conf.d") + "/agent", "--name", "agent", "--home", "/home/app", "--pct", "100%"}
	if got := program(t, c, "agent").Command; !reflect.DeepEqual(got, want) {
		t.Errorf("command = %q, want %q", got, want)
	}
}

func TestConfDBadReferenceNamesTheLine(t *testing.T) {
	e := only(t, loadErrors(t, map[string]string{"agent.conf": "[program:agent]\n\ncommand = run %(ENV_NOT_SET_ANYWHERE)s\n"}))
	if !strings.HasSuffix(e.Where, "agent.conf:3") || !strings.Contains(e.Problem, "NOT_SET_ANYWHERE is not set") {
		t.Errorf("got %v", e)
	}
}

func TestEnvironmentVariablesAreNotExpanded(t *testing.T) {
	c := mustLoad(t, nil, "TEND_AGENT_COMMAND=date +%s")
	if got := program(t, c, "agent").Command; !reflect.DeepEqual(got, []string{"date", "+%s"}) {
		t.Errorf("command = %q", got)
	}
}

func TestFilesAreReadInLexicalOrder(t *testing.T) {
	es := loadErrors(t, map[string]string{
		"20-app.conf":  "[program:agent]\ncommand=b\n",
		"10-base.conf": "[program:agent]\ncommand=a\n",
		"README":       "not a conf file",
	})
	e := only(t, es)
	if !strings.HasSuffix(e.Where, "20-app.conf:1") || !strings.Contains(e.Problem, "10-base.conf:1") {
		t.Errorf("the later file should be the duplicate: %v", e)
	}
}

func TestDuplicateProgramNamesBothPlaces(t *testing.T) {
	es := loadErrors(t, map[string]string{"a.conf": "[program:agent]\ncommand=a\n\n[program:agent]\ncommand=b\n"})
	e := only(t, es)
	if !strings.HasSuffix(e.Where, "a.conf:4") || !strings.Contains(e.Problem, "a.conf:1") || !strings.Contains(e.Problem, "duplicate") {
		t.Errorf("got %v", e)
	}
}

func TestEnvOverridesFiles(t *testing.T) {
	c := mustLoad(t, map[string]string{"agent.conf": "[program:agent]\ncommand = agent --from-file\nstartsecs = 5\npriority = 3\n"},
		"TEND_AGENT_STARTSECS=2", "TEND_AGENT_COMMAND=agent --from-env", "TEND_AGENT_USER=app")
	p := program(t, c, "agent")
	if p.StartPeriod != 2*time.Second || !reflect.DeepEqual(p.Command, []string{"agent", "--from-env"}) || p.Priority != 3 {
		t.Errorf("env did not win: %+v", p)
	}
	if p.Credential == nil || p.Credential.UID != 1000 || !reflect.DeepEqual(p.Credential.Groups, []uint32{1000, 27}) {
		t.Errorf("user app from env not resolved: %+v", p.Credential)
	}
	if !strings.HasSuffix(p.Source, "agent.conf:1") {
		t.Errorf("Source = %q: the program is still defined by its file", p.Source)
	}
}

func TestEnvCommandAloneDefinesAProgram(t *testing.T) {
	c := mustLoad(t, nil, "TEND_AGENT_COMMAND=sleep 100")
	p := program(t, c, "agent")
	if !reflect.DeepEqual(p.Command, []string{"sleep", "100"}) || p.Source != "TEND_AGENT_COMMAND" {
		t.Errorf("got %+v", p)
	}
	if p.StartPeriod != time.Second || p.StartRetries != 3 || p.AutoRestart != RestartUnexpected || !p.AutoStart || p.StopSignal != 15 {
		t.Errorf("defaults not applied: %+v", p)
	}
}

func TestEnvDefinedProgramTakesEveryKey(t *testing.T) {
	// AUTOSTART, AUTORESTART and DEPENDS_ON sort before COMMAND.
	c := mustLoad(t, nil,
		"TEND_AGENT_AUTOSTART=false", "TEND_AGENT_AUTORESTART=true", "TEND_AGENT_DEPENDS_ON=db",
		"TEND_AGENT_COMMAND=sleep 100", "TEND_DB_COMMAND=sleep 200")
	p := program(t, c, "agent")
	if p.AutoStart || p.AutoRestart != RestartAlways || !reflect.DeepEqual(p.DependsOn, []string{"db"}) {
		t.Errorf("got %+v", p)
	}
}

func TestMainProgramKeysFromEnv(t *testing.T) {
	c := mustLoad(t, nil, "TEND_AGENT_COMMAND=sleep 1", "TEND_MAIN_DEPENDS_ON=agent", "TEND_MAIN_STOPSIGNAL=INT",
		"TEND_MAIN_COMMAND=ignored")
	if !reflect.DeepEqual(c.Main.Command, []string{"java", "-jar", "app.jar"}) || c.Main.StopSignal != 2 ||
		!reflect.DeepEqual(c.Main.DependsOn, []string{"agent"}) {
		t.Errorf("main = %+v", c.Main)
	}
	if !strings.Contains(strings.Join(c.Warnings, "\n"), "TEND_MAIN_COMMAND is ignored") {
		t.Errorf("no warning about TEND_MAIN_COMMAND: %q", c.Warnings)
	}
}

func TestMainOnExitRestartMakesMainRestart(t *testing.T) {
	c := mustLoad(t, nil, "TEND_MAIN_ON_EXIT=restart")
	if c.Main.AutoRestart != RestartAlways {
		t.Errorf("main autorestart = %s", c.Main.AutoRestart)
	}
	c = mustLoad(t, nil, "TEND_MAIN_ON_EXIT=hold", "TEND_HOLD_FOR=90")
	if c.Main.AutoRestart != RestartNever || c.MainOnExit != MainHold || c.HoldFor != 90*time.Second {
		t.Errorf("hold: %+v %s %s", c.Main.AutoRestart, c.MainOnExit, c.HoldFor)
	}
}

func TestProgramNameCollidingWithASettingIsAnError(t *testing.T) {
	e := only(t, loadErrors(t, map[string]string{"log.conf": "[program:log]\ncommand=x\n"}))
	if !strings.HasSuffix(e.Where, "log.conf:1") || e.Value != "log" || !strings.Contains(e.Problem, "collides with the TEND_LOG_") {
		t.Errorf("file: %v", e)
	}
	e = only(t, loadErrors(t, nil, "TEND_LOG_COMMAND=x"))
	if e.Where != "TEND_LOG_COMMAND" || !strings.Contains(e.Problem, "TEND_LOG_") || !strings.Contains(e.Problem, "log") {
		t.Errorf("env: %v", e)
	}
	for _, name := range []string{"stop", "fluent", "java", "http"} {
		es := loadErrors(t, map[string]string{"a.conf": "[program:" + name + "]\ncommand=x\n"})
		if e := only(t, es); !strings.Contains(e.Problem, "collides") {
			t.Errorf("[program:%s]: %v", name, e)
		}
	}
}

func TestInvalidProgramNames(t *testing.T) {
	for _, name := range []string{"Agent", "my-agent", "my_agent", "1agent", ""} {
		e := only(t, loadErrors(t, map[string]string{"a.conf": "[program:" + name + "]\ncommand=x\n"}))
		if !strings.HasSuffix(e.Where, "a.conf:1") || !strings.Contains(e.Expected, "lower-case letters and digits") {
			t.Errorf("[program:%s]: %v", name, e)
		}
	}
	e := only(t, loadErrors(t, map[string]string{"a.conf": "[program:main]\ncommand=x\n"}))
	if !strings.Contains(e.Problem, "command line") {
		t.Errorf("[program:main]: %v", e)
	}
}

func TestUnknownKeySuggestsTheNearest(t *testing.T) {
	e := only(t, loadErrors(t, map[string]string{"a.conf": "[program:agent]\ncommand=x\nstopwaitsec = 5\n"}))
	if !strings.HasSuffix(e.Where, "a.conf:3") || !strings.Contains(e.Problem, "unknown key stopwaitsec") || e.Suggest != "stopwaitsecs" {
		t.Errorf("file: %v", e)
	}
	if msg := e.Error(); !strings.Contains(msg, "did you mean stopwaitsecs?") {
		t.Errorf("message: %s", msg)
	}
	e = only(t, loadErrors(t, nil, "TEND_AGENT_COMMAND=x", "TEND_AGENT_DEPENDSON=db"))
	if e.Where != "TEND_AGENT_DEPENDSON" || e.Suggest != "TEND_AGENT_DEPENDS_ON" {
		t.Errorf("env: %v", e)
	}
	e = only(t, loadErrors(t, nil, "TEND_STOP_TIMEOUTS=10s"))
	if e.Suggest != "TEND_STOP_TIMEOUT" {
		t.Errorf("setting: %v", e)
	}
	e = only(t, loadErrors(t, nil, "TEND_AGNET_USER=app", "TEND_AGENT_COMMAND=x"))
	if e.Where != "TEND_AGNET_USER" || !strings.Contains(e.Problem, "no program agnet") || e.Suggest != "TEND_AGENT_USER" {
		t.Errorf("undefined program: %v", e)
	}
}

func TestMissingCommand(t *testing.T) {
	e := only(t, loadErrors(t, map[string]string{"a.conf": "; agent\n[program:agent]\npriority = 5\n"}))
	if !strings.HasSuffix(e.Where, "a.conf:2") || e.Value != "[program:agent]" || !strings.Contains(e.Problem, "agent has no command") || !strings.Contains(e.Expected, "TEND_AGENT_COMMAND") {
		t.Errorf("got %v", e)
	}
	e = only(t, loadErrors(t, map[string]string{"a.conf": "[program:agent]\ncommand = \n"}))
	if !strings.HasSuffix(e.Where, "a.conf:2") || !strings.Contains(e.Problem, "empty command") {
		t.Errorf("empty command: %v", e)
	}
	_, err := Load(Options{Env: []string{"TEND_CONFIG_DIR=" + t.TempDir()}, RequireMain: true, LookupUser: fakeUsers})
	if err == nil || !strings.Contains(err.Error(), "no main program") {
		t.Errorf("no main program: %v", err)
	}
}

func TestNonexistentUser(t *testing.T) {
	e := only(t, loadErrors(t, map[string]string{"a.conf": "[program:agent]\ncommand=x\nuser = ghost\n"}))
	if !strings.HasSuffix(e.Where, "a.conf:3") || e.Value != "ghost" || !strings.Contains(e.Problem, "no such user") {
		t.Errorf("file: %v", e)
	}
	es := loadErrors(t, nil, "TEND_USER=ghost", "TEND_AGENT_COMMAND=x")
	if len(es) != 2 || es[0].Where != "TEND_USER" {
		t.Errorf("TEND_USER: %v", es)
	}
	// The system's user database, as tend uses it.
	if _, err := LookupUser("no-such-user-tend-test"); err == nil {
		t.Error("LookupUser found a user that does not exist")
	}
	if c, err := LookupUser("root"); err != nil || c.UID != 0 || c.Name != "root" {
		t.Errorf("LookupUser(root) = %+v, %v", c, err)
	}
	if c, err := LookupUser("4242"); err != nil || c.UID != 4242 || c.GID != 4242 {
		t.Errorf("a numeric uid outside /etc/passwd: %+v, %v", c, err)
	}
}

func TestDependsOnCycleIsNamed(t *testing.T) {
	e := only(t, loadErrors(t, map[string]string{"a.conf": "[program:a]\ncommand=x\ndepends_on=b\n[program:b]\ncommand=x\ndepends_on = a\n"}))
	if !strings.Contains(e.Problem, "depends_on cycle: ") ||
		!(strings.Contains(e.Problem, "a -> b -> a") || strings.Contains(e.Problem, "b -> a -> b")) {
		t.Errorf("two programs: %v", e)
	}
	if !strings.Contains(e.Where, "a.conf:") {
		t.Errorf("no file:line: %v", e)
	}
	e = only(t, loadErrors(t, map[string]string{"a.conf": "[program:a]\ncommand=x\ndepends_on=a\n"}))
	if !strings.HasSuffix(e.Where, "a.conf:3") || !strings.Contains(e.Problem, "a -> a") {
		t.Errorf("itself: %v", e)
	}
	e = only(t, loadErrors(t, nil, "TEND_A_COMMAND=x", "TEND_B_COMMAND=x", "TEND_C_COMMAND=x",
		"TEND_A_DEPENDS_ON=b", "TEND_B_DEPENDS_ON=c", "TEND_C_DEPENDS_ON=a"))
	if !strings.Contains(e.Problem, "a -> b -> c -> a") && !strings.Contains(e.Problem, "b -> c -> a -> b") && !strings.Contains(e.Problem, "c -> a -> b -> c") {
		t.Errorf("three programs: %v", e)
	}
	e = only(t, loadErrors(t, nil, "TEND_A_COMMAND=x", "TEND_MAIN_DEPENDS_ON=a", "TEND_A_DEPENDS_ON=main"))
	if !strings.Contains(e.Problem, "main -> a -> main") && !strings.Contains(e.Problem, "a -> main -> a") {
		t.Errorf("with main: %v", e)
	}
}

func TestUnknownDependency(t *testing.T) {
	es := loadErrors(t, map[string]string{"a.conf": "[program:agent]\ncommand=x\ndepends_on = registry, dbb\n[program:db]\ncommand=x\n"})
	if len(es) != 2 {
		t.Fatalf("want one error per unknown dependency:\n%v", es)
	}
	if e := es[0]; !strings.HasSuffix(e.Where, "a.conf:3") || !strings.Contains(e.Problem, "unknown dependency registry") || e.Value != "registry,dbb" {
		t.Errorf("got %v", e)
	}
	if e := es[1]; !strings.HasSuffix(e.Where, "a.conf:3") || !strings.Contains(e.Problem, "unknown dependency dbb") || e.Suggest != "db" {
		t.Errorf("got %v", e)
	}
	es = loadErrors(t, nil, "TEND_AGENT_COMMAND=x", "TEND_DB_COMMAND=x", "TEND_AGENT_DEPENDS_ON=dbb")
	if e := only(t, es); e.Where != "TEND_AGENT_DEPENDS_ON" || e.Suggest != "db" {
		t.Errorf("env: %v", e)
	}
}

func TestInvalidValueNamesPlaceFormAndValue(t *testing.T) {
	for _, tc := range []struct{ key, value, form string }{
		{"startsecs", "soon", DurationForm},
		{"stopwaitsecs", "-1", DurationForm},
		{"startretries", "many", "whole number"},
		{"autorestart", "sometimes", "true, false or unexpected"},
		{"autostart", "perhaps", formBool},
		{"exitcodes", "0,300", "exit codes"},
		{"stopsignal", "TERMINATE", "signal name"},
		{"priority", "high", "whole number"},
		{"directory", "relative/dir", "absolute path"},
		{"environment", `A="1`, `KEY="value"`},
		{"command", `sh -c 'unterminated`, "command line"},
	} {
		e := only(t, loadErrors(t, map[string]string{"a.conf": "[program:agent]\ncommand = x\n" + tc.key + " = " + tc.value + "\n"}))
		if !strings.HasSuffix(e.Where, "a.conf:3") || e.Value != tc.value || !strings.Contains(e.Expected, tc.form) {
			t.Errorf("%s = %s: %+v", tc.key, tc.value, e)
		}
		msg := e.Error()
		if !strings.Contains(msg, "a.conf:3=") || !strings.Contains(msg, "expected ") {
			t.Errorf("%s = %s: message %q", tc.key, tc.value, msg)
		}
	}
	e := only(t, loadErrors(t, nil, "TEND_AGENT_COMMAND=x", "TEND_AGENT_STARTSECS=soon"))
	if e.Where != "TEND_AGENT_STARTSECS" || e.Value != "soon" || e.Expected != DurationForm {
		t.Errorf("env: %+v", e)
	}
}

func TestSyntaxErrorInAFileNamesFileAndLine(t *testing.T) {
	e := only(t, loadErrors(t, map[string]string{"a.conf": "[program:agent]\ncommand = x\nautostart\n"}))
	if !strings.HasSuffix(e.Where, "a.conf:3") || e.Value != "autostart" || !strings.Contains(e.Expected, "key = value") {
		t.Errorf("got %+v", e)
	}
}

func TestEveryProblemIsReported(t *testing.T) {
	es := loadErrors(t, map[string]string{
		"a.conf": "[program:agent]\nstartsecs = soon\nuser = ghost\n",
		"b.conf": "[program:b]\ncommand = x\ndepends_on = nope\n",
	}, "TEND_STOP_TIMEOUT=forever")
	if len(es) != 5 {
		t.Fatalf("got %d errors, want 5 (timeout, startsecs, command, user, dependency):\n%v", len(es), es)
	}
}

func TestIgnoredSupervisordKeysAreWarnings(t *testing.T) {
	c := mustLoad(t, map[string]string{"a.conf": `[supervisord]
nodaemon = true

[program:agent]
command = x
process_name = %(program_name)s
numprocs = 1
umask = 022
stdout_logfile = /var/log/agent.log
serverurl = AUTO

[group:all]
programs = agent
`})
	warnings := strings.Join(c.Warnings, "\n")
	for _, want := range []string{
		"a.conf:1: section [supervisord] is ignored",
		"a.conf:6: process_name is not supported",
		"a.conf:7: numprocs is not supported",
		"a.conf:8: umask is not supported",
		"a.conf:9: stdout_logfile is not supported",
		"a.conf:10: serverurl is not supported",
		"a.conf:12: section [group:all] is ignored",
	} {
		if !strings.Contains(warnings, want) {
			t.Errorf("no warning %q in:\n%s", want, warnings)
		}
	}
}

func TestStartOrderIsPriorityThenName(t *testing.T) {
	c := mustLoad(t, map[string]string{"a.conf": `
[program:zed]
command = x
priority = 10
[program:beta]
command = x
[program:alpha]
command = x
[program:mid]
command = x
priority = 500
`})
	if got, want := names(c), []string{"zed", "mid", "alpha", "beta"}; !reflect.DeepEqual(got, want) {
		t.Errorf("order = %q, want %q", got, want)
	}
}

func TestStartOrderPutsDependenciesFirst(t *testing.T) {
	// app (priority 1) needs db (priority 50), which needs vault
	// (priority 900); the agent depends on the main program only.
	c := mustLoad(t, map[string]string{"a.conf": `
[program:app]
command = x
priority = 1
depends_on = db
[program:db]
command = x
priority = 50
depends_on = vault
[program:vault]
command = x
priority = 900
[program:early]
command = x
priority = 2
[program:agent]
command = x
priority = 0
depends_on = main
`})
	if got, want := names(c), []string{"agent", "early", "vault", "db", "app"}; !reflect.DeepEqual(got, want) {
		t.Errorf("order = %q, want %q", got, want)
	}
}

func TestBadSettingNamesVariableFormAndValue(t *testing.T) {
	e := only(t, loadErrors(t, nil, "TEND_STOP_TIMEOUT=10 minutes"))
	if e.Where != "TEND_STOP_TIMEOUT" || e.Value != "10 minutes" || e.Expected != DurationForm {
		t.Errorf("got %+v", e)
	}
	e = only(t, loadErrors(t, nil, "TEND_MAIN_ON_EXIT=stay"))
	if e.Where != "TEND_MAIN_ON_EXIT" || !strings.Contains(e.Expected, "exit, restart, hold") {
		t.Errorf("got %+v", e)
	}
}

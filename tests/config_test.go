package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// badInputs are invalid settings. Each must make tend exit 2 before it
// starts anything, with a message naming where the problem is (variable or
// file:line) and the value seen.
var badInputs = []struct {
	name string
	env  []string // the bad variable is env[0]
	conf string   // conf.d/app.conf content, when the bad input is there
	// where and value are what the message must name; also is more text
	// it must hold (a suggestion, the expected form).
	where, value, also string
}{
	{name: "size with unknown unit", env: []string{"TEND_LOG_FILE_SIZE=5XB"}, also: "512KiB"},
	{name: "size out of range", env: []string{"TEND_LOG_FILE_SIZE=99999999999999999999"}},
	{name: "size above the cap", env: []string{"TEND_LOG_MAX_LINE=1GiB"}},
	{name: "rate with unknown unit", env: []string{"TEND_LOG_RATE=10MB/m"}},
	{name: "negative duration", env: []string{"TEND_STOP_TIMEOUT=-5s"}},
	{name: "zero stop budget", env: []string{"TEND_STOP_TIMEOUT=0"}},
	{name: "duration with unknown unit", env: []string{"TEND_DRAIN_DELAY=10y"}, also: "10s"},
	{name: "malformed duration", env: []string{"TEND_HOLD_FOR=1.5.s"}},
	{name: "empty required value", env: []string{"TEND_STOP_TIMEOUT="}},
	{name: "unknown variable", env: []string{"TEND_BOGUS=1"}, also: "unknown variable"},
	{name: "typo suggests the setting", env: []string{"TEND_STOP_TIMEOT=5s"}, also: "TEND_STOP_TIMEOUT"},
	{name: "typo in a program key", env: []string{"TEND_MAIN_AUTORESTRT=true"}, also: "TEND_MAIN_AUTORESTART"},
	{name: "key of an undefined program", env: []string{"TEND_AGENT_AUTORESTART=true"}, also: "TEND_AGENT_COMMAND"},
	{name: "bad enum", env: []string{"TEND_LOG_FORMAT=xml"}, also: "raw, prefix, json"},
	{name: "bad level", env: []string{"TEND_EVENT_LEVEL=verbose"}},
	{name: "bad bool", env: []string{"TEND_DUMP_ON_TIMEOUT=maybe"}, also: "true or false"},
	{name: "bad port list", env: []string{"TEND_DRAIN_PORTS=8080,http"}},
	{name: "bad exit-code map", env: []string{"TEND_EXIT_CODE_MAP=143-0"}, also: "FROM:TO"},
	{name: "relative path", env: []string{"TEND_LOG_DIR=var/log"}, also: "absolute path"},
	{name: "relative socket path", env: []string{"TEND_SOCKET=tend.sock"}},
	{name: "HTTP hook with a bad method", env: []string{"TEND_PRESTOP_HTTP=FETCH http://localhost:8080/x"}},
	{name: "HTTP hook without a URL scheme", env: []string{"TEND_PRESTOP_HTTP=PUT localhost:8080/x"}},
	{name: "command with an open quote", env: []string{`TEND_PRESTOP=curl "http://x`}},
	{name: "address without port", env: []string{"TEND_HTTP_ADDR=localhost"}},
	{name: "unknown signal", env: []string{"TEND_MAIN_STOPSIGNAL=SIGFOO"}},
	{name: "unknown user", env: []string{"TEND_USER=no-such-user-tend-test"}},
	{name: "unknown probe", env: []string{"TEND_MAIN_READY=udp:53"}},
	{name: "flush reserve above the budget", env: []string{"TEND_STOP_FLUSH_RESERVE=20s", "TEND_STOP_TIMEOUT=10s"}},
	{name: "side program with empty command", env: []string{"TEND_SIDE_COMMAND="}},
	{name: "bad key in a conf.d file", conf: "[program:agent]\ncommand = sleep 100\nstopwaitsecs = soon\n",
		where: "conf.d/app.conf:3", value: "soon"},
	{name: "unknown key in a conf.d file", conf: "[program:agent]\ncommand = sleep 100\nautorestrat = true\n",
		where: "conf.d/app.conf:3", also: "autorestart"},
}

// TestBadInputExits2AndStartsNothing runs tend with each bad input and a
// main program (and a valid side program) that would create marker files:
// tend must exit 2, name the variable and the value seen, and start
// neither program.
func TestBadInputExits2AndStartsNothing(t *testing.T) {
	if len(badInputs) < 15 {
		t.Fatalf("only %d bad inputs; keep at least 15", len(badInputs))
	}
	for _, bad := range badInputs {
		t.Run(bad.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			confDir := filepath.Join(dir, "etc")
			if err := os.MkdirAll(filepath.Join(confDir, "conf.d"), 0o755); err != nil {
				t.Fatal(err)
			}
			if bad.conf != "" {
				if err := os.WriteFile(filepath.Join(confDir, "conf.d", "app.conf"), []byte(bad.conf), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			mainMarker, sideMarker := filepath.Join(dir, "main-started"), filepath.Join(dir, "side-started")
			env := append([]string{
				"TEND_CONFIG_DIR=" + confDir,
				"TEND_MARKER_COMMAND=touch " + sideMarker,
			}, bad.env...)
			code, stdout, stderr := runTend(t, tendOptions{Env: env, Args: []string{"--", "touch", mainMarker}}, 10*time.Second)

			if code != 2 {
				t.Errorf("tend exited with %d, want 2\nstderr:\n%s", code, stderr)
			}
			for _, m := range []string{mainMarker, sideMarker} {
				if _, err := os.Stat(m); err == nil {
					t.Errorf("%s exists: a program was started despite the bad input", filepath.Base(m))
				}
			}
			if stdout != "" {
				t.Errorf("stdout should stay empty, got %q", stdout)
			}
			where, value := bad.where, bad.value
			if len(bad.env) > 0 {
				name, v, _ := strings.Cut(bad.env[0], "=")
				if where == "" {
					where = name
				}
				if value == "" {
					value = strconv.Quote(v)
				}
			}
			for _, want := range []string{where, value, bad.also} {
				if !strings.Contains(stderr, want) {
					t.Errorf("message does not contain %q:\n%s", want, stderr)
				}
			}
		})
	}
}

// TestBadCommandLineExits2: a missing program or an unknown flag is bad
// input too.
func TestBadCommandLineExits2(t *testing.T) {
	for _, args := range [][]string{{}, {"--"}, {"--bogus", "sleep", "1"}} {
		t.Run(strings.Join(append([]string{"tend"}, args...), " "), func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runTend(t, tendOptions{Args: args}, 10*time.Second)
			if code != 2 {
				t.Errorf("tend exited with %d, want 2\nstderr:\n%s", code, stderr)
			}
			if !strings.Contains(stderr, "usage") && !strings.Contains(stderr, "no main program") {
				t.Errorf("message neither shows the usage nor says the program is missing:\n%s", stderr)
			}
		})
	}
}

// setting finds a name in `tend check --json` output.
type checkOutput struct {
	Settings []struct{ Name, Value string } `json:"settings"`
	Programs []struct {
		Name, Source string
		Keys         []struct{ Name, Value string } `json:"keys"`
	} `json:"programs"`
}

// TestCheckPrintsEffectiveConfiguration: `tend check` prints every setting
// with its effective value, set or default, and each program with its
// keys, as text and as JSON.
func TestCheckPrintsEffectiveConfiguration(t *testing.T) {
	t.Parallel()
	confDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(confDir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := "[program:agent]\ncommand = sleep 100\npriority = 10\n"
	if err := os.WriteFile(filepath.Join(confDir, "conf.d", "agent.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"TEND_CONFIG_DIR=" + confDir, "TEND_STOP_TIMEOUT=30", "TEND_LOG_FILE_SIZE=10MiB", "TEND_AGENT_STOPSIGNAL=INT"}

	code, text, stderr := runTend(t, tendOptions{Env: env, Args: []string{"check"}}, 10*time.Second)
	if code != 0 {
		t.Fatalf("tend check exited with %d\nstderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"TEND_STOP_TIMEOUT=30s",      // set, as plain seconds
		"TEND_LOG_FILE_SIZE=10MiB",   // set
		"TEND_LOG_FORMAT=raw",        // default
		"TEND_CONFIG_DIR=" + confDir, // set
		"# program agent",            // from conf.d
		"agent.conf:1",               // where it was defined
		"stopsignal=INT",             // from the environment
		"priority=10",                // from the file
	} {
		if !strings.Contains(text, want) {
			t.Errorf("tend check output lacks %q:\n%s", want, text)
		}
	}

	code, js, stderr := runTend(t, tendOptions{Env: env, Args: []string{"check", "--json"}}, 10*time.Second)
	if code != 0 {
		t.Fatalf("tend check --json exited with %d\nstderr:\n%s", code, stderr)
	}
	var out checkOutput
	if err := json.Unmarshal([]byte(js), &out); err != nil {
		t.Fatalf("tend check --json is not JSON: %v\n%s", err, js)
	}
	settings := map[string]string{}
	for _, s := range out.Settings {
		settings[s.Name] = s.Value
	}
	for name, want := range map[string]string{
		"TEND_STOP_TIMEOUT":  "30s",
		"TEND_LOG_FILE_SIZE": "10MiB",
		"TEND_LOG_FORMAT":    "raw",
	} {
		if got, ok := settings[name]; !ok || got != want {
			t.Errorf("JSON setting %s = %q (present %v), want %q", name, got, ok, want)
		}
	}
	var agent map[string]string
	for _, p := range out.Programs {
		if p.Name == "agent" {
			agent = map[string]string{}
			for _, k := range p.Keys {
				agent[k.Name] = k.Value
			}
		}
	}
	if agent == nil {
		t.Fatalf("JSON has no program agent: %s", js)
	}
	if agent["command"] != "sleep 100" || agent["stopsignal"] != "INT" || agent["priority"] != "10" {
		t.Errorf("agent's keys: command=%q stopsignal=%q priority=%q; want sleep 100, INT, 10",
			agent["command"], agent["stopsignal"], agent["priority"])
	}
}

// TestCheckExits2OnBadInput: `tend check` reports the same errors as a
// run, with exit code 2, in both output forms.
func TestCheckExits2OnBadInput(t *testing.T) {
	for _, args := range [][]string{{"check"}, {"check", "--json"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runTend(t, tendOptions{Env: []string{"TEND_STOP_TIMEOT=5s"}, Args: args}, 10*time.Second)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if !strings.Contains(stderr, "TEND_STOP_TIMEOT") || !strings.Contains(stderr, "TEND_STOP_TIMEOUT") {
				t.Errorf("message should name TEND_STOP_TIMEOT and suggest TEND_STOP_TIMEOUT:\n%s", stderr)
			}
			if stdout != "" {
				t.Errorf("no configuration should be printed on an error, got:\n%s", stdout)
			}
		})
	}
}

// TestVersionIsStampedAtBuild: the version given with -ldflags -X at build
// time is what `tend version` prints.
func TestVersionIsStampedAtBuild(t *testing.T) {
	t.Parallel()
	bin := buildTend(t, "-ldflags", "-s -w -X main.version=1.2.3-test")
	for _, arg := range []string{"version", "--version", "-V"} {
		code, stdout, stderr := runTend(t, tendOptions{Binary: bin, Args: []string{arg}}, 10*time.Second)
		if code != 0 || strings.TrimSpace(stdout) != "tend 1.2.3-test" {
			t.Errorf("tend %s: exit %d, stdout %q, stderr %q; want 0 and %q", arg, code, stdout, stderr, "tend 1.2.3-test")
		}
	}
}

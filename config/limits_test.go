package config

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests cover input that is careless or hostile: values too large
// to honour, files that are not files, names and lines without end.

func TestSizeSettingsHaveUpperBounds(t *testing.T) {
	for _, tc := range []struct{ env, bound, atBound string }{
		{"TEND_FLUENT_BUFFER=1000000000", "256MiB", "TEND_FLUENT_BUFFER=256MiB"},
		{"TEND_LOG_BUFFER=1GiB", "256MiB", "TEND_LOG_BUFFER=256MiB"},
		{"TEND_LOG_FILE_SIZE=2TiB", "1TiB", "TEND_LOG_FILE_SIZE=1TiB"},
		{"TEND_LOG_FILE_COUNT=1000000000", "1000", "TEND_LOG_FILE_COUNT=1000"},
		{"TEND_LOG_DISK_BUDGET=1025TiB", "1024TiB", "TEND_LOG_DISK_BUDGET=1024TiB"},
		{"TEND_LOG_MIN_FREE=8000000TiB", "1024TiB", "TEND_LOG_MIN_FREE=1024TiB"},
		{"TEND_LOG_RATE=2TiB/s", "1TiB", "TEND_LOG_RATE=1TiB/s"},
		{"TEND_LOG_BURST=2TiB", "1TiB", "TEND_LOG_BURST=1TiB"},
		{"TEND_LOG_MAX_LINE=17MiB", "16MiB", "TEND_LOG_MAX_LINE=16MiB"},
		{"TEND_MAIN_LOG_RATE=2TiB", "1TiB", "TEND_MAIN_LOG_RATE=1TiB"},
		{"TEND_MAIN_LOG_BURST=2TiB", "1TiB", "TEND_MAIN_LOG_BURST=1TiB"},
	} {
		name, value, _ := strings.Cut(tc.env, "=")
		e := only(t, loadErrors(t, nil, tc.env))
		if e.Where != name || e.Value != value || !strings.Contains(e.Problem, "limit of "+tc.bound) {
			t.Errorf("%s: %v", tc.env, e)
		}
		if !strings.Contains(e.Expected, tc.bound) && !strings.Contains(e.Expected, "1 to "+tc.bound) {
			t.Errorf("%s: the expected form %q does not state the bound", tc.env, e.Expected)
		}
		mustLoad(t, nil, tc.atBound)
	}
}

func TestExitCodeMappedTwiceIsAnError(t *testing.T) {
	e := only(t, loadErrors(t, nil, "TEND_EXIT_CODE_MAP=143:0,143:1"))
	if e.Where != "TEND_EXIT_CODE_MAP" || !strings.Contains(e.Problem, "143 is mapped twice") {
		t.Errorf("got %v", e)
	}
	c := mustLoad(t, nil, "TEND_EXIT_CODE_MAP=143:0,130:0")
	if len(c.Stop.ExitCodes) != 2 {
		t.Errorf("map = %v", c.Stop.ExitCodes)
	}
}

func TestMainNameMayNotBeTheFirstWordOfASetting(t *testing.T) {
	// TEND_MAIN_STOPSIGNAL must not add an error of its own: the one
	// problem is the name.
	e := only(t, loadErrors(t, nil, "TEND_MAIN_NAME=log", "TEND_MAIN_STOPSIGNAL=INT"))
	if e.Where != "TEND_MAIN_NAME" || e.Value != "log" || !strings.Contains(e.Problem, "TEND_LOG_") {
		t.Errorf("got %v", e)
	}
	if c := mustLoad(t, nil, "TEND_MAIN_NAME=app"); c.Main.Name != "app" {
		t.Errorf("name = %q", c.Main.Name)
	}
}

func TestNULByteInAValueIsAnError(t *testing.T) {
	e := only(t, loadErrors(t, map[string]string{"a.conf": "[program:agent]\ncommand = sleep\x00 10\n"}))
	if !strings.HasSuffix(e.Where, "a.conf:2") || !strings.Contains(e.Problem, "NUL byte at offset 5") {
		t.Errorf("file: %v", e)
	}
	// The environment of a process cannot hold a NUL, but Load's caller
	// may pass anything.
	e = only(t, loadErrors(t, nil, "TEND_PRESTOP=curl\x00x"))
	if e.Where != "TEND_PRESTOP" || !strings.Contains(e.Problem, "NUL byte") {
		t.Errorf("env: %v", e)
	}
}

func TestProgramNamesAreAtMost64Characters(t *testing.T) {
	long := "a" + strings.Repeat("b", 64)
	e := only(t, loadErrors(t, map[string]string{"a.conf": "[program:" + long + "]\ncommand = x\n"}))
	if !strings.HasSuffix(e.Where, "a.conf:1") || !strings.Contains(e.Problem, "65 characters, more than the limit of 64") {
		t.Errorf("file: %v", e)
	}
	huge := strings.Repeat("A", 5000)
	e = only(t, loadErrors(t, nil, "TEND_"+huge+"_COMMAND=sleep 1"))
	if !strings.Contains(e.Problem, "5000 characters, more than the limit of 64") || len(e.Where) > 120 {
		t.Errorf("env: %v", e)
	}
	e = only(t, loadErrors(t, nil, "TEND_MAIN_NAME="+long))
	if e.Where != "TEND_MAIN_NAME" || !strings.Contains(e.Problem, "limit of 64") {
		t.Errorf("main name: %v", e)
	}
	mustLoad(t, map[string]string{"a.conf": "[program:" + long[:64] + "]\ncommand = x\n"})
}

func TestLongConfLineNamesFileLineAndLimit(t *testing.T) {
	long := "command = echo " + strings.Repeat("x", MaxConfLine) + "\n"
	e := only(t, loadErrors(t, map[string]string{"a.conf": "[program:agent]\n; comment\n" + long}))
	if !strings.HasSuffix(e.Where, "a.conf:3") || !strings.Contains(e.Problem, "longer than the limit of 1MiB") ||
		!strings.HasPrefix(e.Value, "command = echo xxx") || len(e.Value) > 100 {
		t.Errorf("got %v", e)
	}
	// A long line within the limit is read whole.
	arg := strings.Repeat("y", 900<<10)
	c := mustLoad(t, map[string]string{"a.conf": "[program:agent]\ncommand = echo " + arg + "\n"})
	if p := program(t, c, "agent"); len(p.Command) != 2 || p.Command[1] != arg {
		t.Errorf("a 900KiB argument was not read whole")
	}
}

func TestSuggestionsChangeOnePartOfTheName(t *testing.T) {
	e := only(t, loadErrors(t, nil, "TEND_FOO_BAR_COMMAND=sleep 1"))
	if e.Where != "TEND_FOO_BAR_COMMAND" || e.Suggest != "TEND_FOOBAR_COMMAND" || !strings.Contains(e.Problem, "without _") {
		t.Errorf("underscore in a program name: %v", e)
	}
	// A key of a program nobody defined: no program is near "agent".
	e = only(t, loadErrors(t, nil, "TEND_AGENT_AUTORESTART=true"))
	if e.Suggest != "" || !strings.Contains(e.Expected, "TEND_AGENT_COMMAND") {
		t.Errorf("undefined program: %v", e)
	}
	e = only(t, loadErrors(t, nil, "TEND_XYZZY_PLUGH=1"))
	if e.Suggest != "" {
		t.Errorf("nonsense: %v", e)
	}
	e = only(t, loadErrors(t, nil, "TEND_AGENT_COMMAND=x", "TEND_AGENT_RESTARTS=3"))
	if e.Suggest != "TEND_AGENT_STARTRETRIES" && e.Suggest != "" {
		t.Errorf("key typo: %v", e)
	}
}

func TestFlushReserveDefaultFitsAnyBudget(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want time.Duration
	}{
		{[]string{"TEND_STOP_TIMEOUT=1s"}, 100 * time.Millisecond},
		{[]string{"TEND_STOP_TIMEOUT=200ms"}, 20 * time.Millisecond},
		{nil, time.Second},
		{[]string{"TEND_STOP_TIMEOUT=30s"}, time.Second},
		{[]string{"TEND_STOP_TIMEOUT=1s", "TEND_STOP_FLUSH_RESERVE=300ms"}, 300 * time.Millisecond},
	} {
		c := mustLoad(t, nil, tc.env...)
		if c.Stop.FlushReserve != tc.want {
			t.Errorf("%v: reserve = %v, want %v", tc.env, c.Stop.FlushReserve, tc.want)
		}
	}
	e := only(t, loadErrors(t, nil, "TEND_STOP_TIMEOUT=1s", "TEND_STOP_FLUSH_RESERVE=1s"))
	if e.Where != "TEND_STOP_FLUSH_RESERVE" || !strings.Contains(e.Problem, "shorter than TEND_STOP_TIMEOUT") {
		t.Errorf("explicit reserve as long as the budget: %v", e)
	}
}

func TestOnlyRegularConfFilesAreRead(t *testing.T) {
	dir := confd(t, map[string]string{"real.txt": "[program:agent]\ncommand = x\n"})
	conf := filepath.Join(dir, "conf.d")
	if err := os.Symlink(filepath.Join(conf, "real.txt"), filepath.Join(conf, "link.conf")); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Options{Env: []string{"TEND_CONFIG_DIR=" + dir, "TEND_SOCKET=" + socketPath(t)}, LookupUser: fakeUsers})
	if err != nil || len(c.Programs) != 1 {
		t.Fatalf("a symbolic link to a regular file is not read: %v", err)
	}

	for name, create := range map[string]func(path string) error{
		"named pipe": func(p string) error { return syscall.Mkfifo(p, 0o644) },
		"directory":  func(p string) error { return os.Mkdir(p, 0o755) },
		"character device": func(p string) error {
			return os.Symlink("/dev/zero", p)
		},
	} {
		dir := confd(t, nil)
		bad := filepath.Join(dir, "conf.d", "bad.conf")
		if err := create(bad); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := Load(Options{Env: []string{"TEND_CONFIG_DIR=" + dir, "TEND_SOCKET=" + socketPath(t)}, LookupUser: fakeUsers})
			done <- err
		}()
		select {
		case err := <-done:
			es, ok := err.(Errors)
			if !ok || len(es) != 1 || es[0].Where != bad || !strings.Contains(es[0].Problem, "not a regular file but a "+name) {
				t.Errorf("%s: %v", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Load blocks", name)
		}
	}
}

func TestLogDirMustBeADirectoryTendCanCreate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for value, problem := range map[string]string{
		file:                        "is a regular file, not a directory",
		filepath.Join(file, "logs"): "cannot be created: " + file + " is a regular file",
	} {
		e := only(t, loadErrors(t, nil, "TEND_LOG_DIR="+value))
		if e.Where != "TEND_LOG_DIR" || e.Value != value || !strings.Contains(e.Problem, problem) {
			t.Errorf("%s: %v", value, e)
		}
	}
	mustLoad(t, nil, "TEND_LOG_DIR="+dir)
	mustLoad(t, nil, "TEND_LOG_DIR="+filepath.Join(dir, "new", "logs"))
}

func TestSocketPathIsChecked(t *testing.T) {
	dir, err := os.MkdirTemp("", "tsock")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(dir, strings.Repeat("s", 120))
	for value, problem := range map[string]string{
		long:                                    "more than the 107 a unix socket address holds",
		filepath.Join(dir, "missing", "t.sock"): "directory " + filepath.Join(dir, "missing") + " does not exist",
		filepath.Join(file, "t.sock"):           file + " is a regular file, not a directory",
		file:                                    "is a regular file, not a socket; tend replaces nothing but a stale socket",
		dir:                                     "is a directory",
	} {
		e := only(t, loadErrors(t, nil, "TEND_SOCKET="+value))
		if e.Where != "TEND_SOCKET" || e.Value != value || !strings.Contains(e.Problem, problem) {
			t.Errorf("%s: %v", value, e)
		}
	}
	// A stale socket (nobody listens) is fine: tend replaces it.
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	mustLoad(t, nil, "TEND_SOCKET="+stale)
}

func TestDefaultSocketInAMissingDirectoryIsAWarning(t *testing.T) {
	// The default path (/run/tend.sock) in an image without /run: as if
	// TEND_SOCKET were unset with that default.
	b := &builder{given: map[string]bool{}}
	b.cfg.Admin.Socket = filepath.Join(t.TempDir(), "run", "tend.sock")
	b.checkPaths()
	if len(b.errs) != 0 || len(b.cfg.Warnings) != 1 || !strings.Contains(b.cfg.Warnings[0], "control commands will be unavailable") {
		t.Errorf("errors %v, warnings %q", b.errs, b.cfg.Warnings)
	}
	// Given explicitly, the same path is an error.
	b = &builder{given: map[string]bool{"SOCKET": true}}
	b.cfg.Admin.Socket = filepath.Join(t.TempDir(), "run", "tend.sock")
	b.checkPaths()
	if len(b.errs) != 1 || !strings.Contains(b.errs[0].Problem, "does not exist") {
		t.Errorf("errors %v", b.errs)
	}
}

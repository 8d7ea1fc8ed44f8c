package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Careless and hostile input. Each test is one promise, checked through
// the real binary:
//
//   - clients that connect and stay idle cannot take tend's descriptors:
//     /healthz and the control commands keep answering
//   - a control request without end cannot grow tend's memory
//   - a control socket tend cannot have (another tend answers on it, its
//     directory is missing, its path is too long for a unix address, a
//     file is there) stops both tend and tend check with exit 2; a stale
//     socket is replaced
//   - a conf.d entry that is not a regular file is an error, never a hang
//   - what tend check accepts, a start accepts too: sizes within bounds,
//     a log directory that can exist, names and values a program can be
//     given
//   - the defaults never make a valid setting invalid
//   - a TERM that reaches tend once it runs is always a stop
//   - the CLI names what is wrong with its arguments, and never reports a
//     success it did not see

// refusedBeforeStart runs `tend check` and `tend -- touch MARKER` with env
// (and conf.d files, when given) and asserts that both exit 2 with a
// message holding each of wants, and that nothing was started.
func refusedBeforeStart(t *testing.T, env []string, files map[string]string, wants ...string) {
	t.Helper()
	if files != nil {
		env = append([]string{writeConfD(t, files)}, env...)
	}
	code, stdout, stderr := runTend(t, tendOptions{Env: env, Args: []string{"check"}}, 20*time.Second)
	if code != 2 || stdout != "" {
		t.Errorf("tend check: exit %d, want 2; stdout %q\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range wants {
		if !strings.Contains(stderr, want) {
			t.Errorf("tend check: the message lacks %q:\n%s", want, stderr)
		}
	}
	marker := filepath.Join(t.TempDir(), "started")
	code, _, stderr = runTend(t, tendOptions{Env: env, Args: []string{"--", "touch", marker}}, 20*time.Second)
	if code != 2 {
		t.Errorf("tend: exit %d, want 2\nstderr:\n%s", code, stderr)
	}
	for _, want := range wants {
		if !strings.Contains(stderr, want) {
			t.Errorf("tend: the message lacks %q:\n%s", want, stderr)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the main program was started despite the bad input")
	}
}

// ctlWithin runs a control command against the tend on socket, and gives
// up after timeout (the CLI's own limit is minutes).
func ctlWithin(t *testing.T, timeout time.Duration, socket string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tendPath(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TEND_SOCKET=" + socket}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		return -1, out.String(), fmt.Sprintf("no answer within %s", timeout)
	}
	return exitCodeOf(cmd.ProcessState, err), out.String(), errb.String()
}

// requirePrlimit skips the test unless prlimit (util-linux) is installed;
// in CI it fails instead.
func requirePrlimit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("prlimit"); err != nil {
		skipOrFail(t, "this test needs prlimit from util-linux")
	}
}

// limitDescriptors lowers the open-file limit of the running process pid,
// so that a test can exhaust it with a few thousand clients.
func limitDescriptors(t *testing.T, pid, n int) {
	t.Helper()
	lim := strconv.Itoa(n)
	if out, err := exec.Command("prlimit", "--pid", strconv.Itoa(pid), "--nofile="+lim+":"+lim).CombinedOutput(); err != nil {
		t.Fatalf("prlimit: %v\n%s", err, out)
	}
}

// startAnswering starts tend with env running `sleep 1000` and waits until
// its control socket answers and the main program has started: the socket
// answers before the main program starts, and a TERM in that moment is a
// stop before the start (exit 0), not a stop of sleep (143).
func startAnswering(t *testing.T, env ...string) *tendProcess {
	t.Helper()
	p := startTend(t, tendOptions{Env: env, Args: []string{"--", "sleep", "1000"}})
	waitFor(t, 10*time.Second, "tend status to answer", func() bool {
		code, _, _ := ctlWithin(t, 5*time.Second, p.socket(), "status")
		return code == 0 || p.Exited()
	})
	waitStatus(t, p, 10*time.Second, "the main program to start", func(st statusDoc) bool {
		return st.program(t, "main").Pid != 0
	})
	return p
}

// TestIdleHTTPClientsCannotExhaustDescriptors: 2,000 clients that send one
// GET /healthz and then stay connected, idle, against a tend allowed 256
// descriptors: a new /healthz and tend status still answer.
func TestIdleHTTPClientsCannotExhaustDescriptors(t *testing.T) {
	requirePrlimit(t)
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	p := startAnswering(t, "TEND_HTTP_ADDR="+addr)
	limitDescriptors(t, p.PID(), 256)
	begin := time.Now()

	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for i := 0; i < 2000; i++ {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		idle = append(idle, c)
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: tend\r\n\r\n"); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}

	t.Logf("%v: 2,000 clients connected, each sent GET /healthz", time.Since(begin))
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Get("http://" + addr + "/healthz")
	t.Logf("%v: a new /healthz answered", time.Since(begin))
	if err != nil {
		t.Fatalf("a new /healthz with 2,000 idle clients connected: %v\ntend's stderr:\n%s", err, tail(p.Stderr()))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", resp.StatusCode)
	}
	if code, out, errs := ctlWithin(t, 20*time.Second, p.socket(), "status"); code != 0 || !strings.Contains(out, "main") {
		t.Errorf("tend status with 2,000 idle clients connected: exit %d\n%s%s", code, out, errs)
	}
	t.Logf("%v: tend status answered", time.Since(begin))
}

// TestSilentControlClientsCannotLockOutTendStatus: 1,000 clients that
// connect to the control socket and send nothing, against a tend allowed
// 128 descriptors: tend status still answers.
func TestSilentControlClientsCannotLockOutTendStatus(t *testing.T) {
	requirePrlimit(t)
	p := startAnswering(t)
	limitDescriptors(t, p.PID(), 128)

	var silent []net.Conn
	defer func() {
		for _, c := range silent {
			c.Close()
		}
	}()
	for i := 0; i < 1000; i++ {
		c, err := net.DialTimeout("unix", p.socket(), 10*time.Second)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		silent = append(silent, c)
	}
	if code, out, errs := ctlWithin(t, 20*time.Second, p.socket(), "status"); code != 0 || !strings.Contains(out, "main") {
		t.Errorf("tend status with 1,000 silent clients connected: exit %d\n%s%s\ntend's stderr:\n%s", code, out, errs, tail(p.Stderr()))
	}
}

// TestEndlessControlRequestLeavesMemoryFlat: 100 MiB without a newline
// sent to the control socket get an error answer, tend's peak resident
// memory stays below 64 MiB, and tend status still works.
func TestEndlessControlRequestLeavesMemoryFlat(t *testing.T) {
	p := startAnswering(t)
	conn, err := net.Dial("unix", p.socket())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	sent := 0
	for ; sent < 100; sent++ {
		if _, err := conn.Write(chunk); err != nil {
			break // tend closed the connection: the answer waits to be read
		}
	}
	var resp struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		t.Errorf("no answer after %d MiB: %v", sent, err)
	} else if resp.OK || !strings.Contains(resp.Error, "longer than 8192 bytes") {
		t.Errorf("answer %+v, want an error naming the limit", resp)
	}

	kib := procHWM(t, p.PID()) >> 10
	t.Logf("tend's peak resident memory: %d KiB", kib)
	if kib > 64<<10 {
		t.Errorf("tend's peak resident memory is %d KiB, more than 64 MiB", kib)
	}
	if code, out, errs := ctlWithin(t, 20*time.Second, p.socket(), "status"); code != 0 {
		t.Errorf("tend status after the long request: exit %d\n%s%s", code, out, errs)
	}
}

// TestSecondTendOnTheSameSocketIsRefused: while one tend runs, a second
// with the same TEND_SOCKET exits 2 naming the socket and starts nothing,
// tend check says the same, and the first tend still answers.
func TestSecondTendOnTheSameSocketIsRefused(t *testing.T) {
	first := startAnswering(t)
	sock := first.socket()
	refusedBeforeStart(t, []string{"TEND_SOCKET=" + sock}, nil, fmt.Sprintf("TEND_SOCKET=%q", sock), "running tend")
	if code, out, errs := ctlWithin(t, 20*time.Second, sock, "status"); code != 0 || !strings.Contains(out, "main") {
		t.Errorf("the first tend no longer answers: exit %d\n%s%s", code, out, errs)
	}
	if first.Exited() {
		t.Errorf("the first tend exited\nstderr:\n%s", first.Stderr())
	}
}

// TestSocketTendCannotHaveIsRefused: a socket in a missing directory, a
// path longer than a unix socket address holds, and a path where a file
// is, each stop tend check and a start with exit 2, naming TEND_SOCKET,
// the value and why. A stale socket, which nobody answers on, is replaced.
func TestSocketTendCannotHaveIsRefused(t *testing.T) {
	dir, err := os.MkdirTemp("", "tsock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, why string }{
		{"missing directory", filepath.Join(dir, "missing", "tend.sock"), "does not exist"},
		{"path too long", filepath.Join(dir, strings.Repeat("s", 110)+".sock"), "more than the 107 a unix socket address holds"},
		{"a file is there", file, "is a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refusedBeforeStart(t, []string{"TEND_SOCKET=" + tc.path}, nil, fmt.Sprintf("TEND_SOCKET=%q", tc.path), tc.why)
		})
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Error("the file at TEND_SOCKET was changed")
	}

	t.Run("stale socket is replaced", func(t *testing.T) {
		stale := filepath.Join(dir, "stale.sock")
		ln, err := net.Listen("unix", stale)
		if err != nil {
			t.Fatal(err)
		}
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close()
		p := startAnswering(t, "TEND_SOCKET="+stale)
		p.Signal(syscall.SIGTERM)
		if code := p.Wait(20 * time.Second); code != 143 {
			t.Errorf("tend over a stale socket exited %d, want 143 (sleep stopped by TERM)\nstderr:\n%s", code, p.Stderr())
		}
	})
}

// TestConfDEntryThatIsNotAFileIsRefusedNotWaitedFor: a named pipe called
// *.conf in conf.d makes tend check and a start exit 2 at once, naming the
// file; a symbolic link to a regular file is read like the file.
func TestConfDEntryThatIsNotAFileIsRefusedNotWaitedFor(t *testing.T) {
	confDir := t.TempDir()
	confD := filepath.Join(confDir, "conf.d")
	if err := os.MkdirAll(confD, 0o755); err != nil {
		t.Fatal(err)
	}
	regular := filepath.Join(confDir, "agent.ini")
	if err := os.WriteFile(regular, []byte("[program:agent]\ncommand = sleep 100\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(regular, filepath.Join(confD, "10-agent.conf")); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(confD, "20-pipe.conf")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"TEND_CONFIG_DIR=" + confDir}
	refusedBeforeStart(t, env, nil, fifo, "named pipe")

	os.Remove(fifo)
	code, out, stderr := runTend(t, tendOptions{Env: env, Args: []string{"check"}}, 20*time.Second)
	if code != 0 || !strings.Contains(out, "# program agent") {
		t.Errorf("a symbolic link to a regular file: tend check exit %d\n%s%s", code, out, stderr)
	}
}

// TestSizesAboveTheirBoundAreRefusedByCheck: a size that would exhaust
// memory (or that no disk holds) does not pass tend check to fail at run
// time; the message names the variable, the value and the bound.
func TestSizesAboveTheirBoundAreRefusedByCheck(t *testing.T) {
	fluent := "TEND_FLUENT_ADDR=127.0.0.1:" + strconv.Itoa(freePort(t))
	for _, tc := range []struct{ env, bound string }{
		{"TEND_FLUENT_BUFFER=1000000000", "256MiB"},
		{"TEND_LOG_BUFFER=1TiB", "256MiB"},
		{"TEND_LOG_FILE_COUNT=1000000000", "1000"},
		{"TEND_LOG_FILE_SIZE=5TiB", "1TiB"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Parallel()
			name, value, _ := strings.Cut(tc.env, "=")
			refusedBeforeStart(t, []string{fluent, tc.env}, nil, fmt.Sprintf("%s=%q", name, value), "limit of "+tc.bound)
		})
	}
}

// TestLogDirThatCannotBeADirectoryIsRefusedByCheck: TEND_LOG_DIR naming a
// regular file, or a path below one, fails tend check as it would fail
// the start.
func TestLogDirThatCannotBeADirectoryIsRefusedByCheck(t *testing.T) {
	file := filepath.Join(t.TempDir(), "app.log")
	if err := os.WriteFile(file, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{file, filepath.Join(file, "logs")} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			refusedBeforeStart(t, []string{"TEND_LOG_DIR=" + dir}, nil, fmt.Sprintf("TEND_LOG_DIR=%q", dir), file+" is a regular file")
		})
	}
}

// TestValuesARunCannotUseAreRefusedByCheck: what passed tend check and
// failed at run time, or was silently wrong, is an error naming where it
// is, the value and the rule.
func TestValuesARunCannotUseAreRefusedByCheck(t *testing.T) {
	longName := strings.Repeat("a", 5000)
	for _, tc := range []struct {
		name  string
		env   []string
		files map[string]string
		wants []string
	}{
		{name: "an exit code mapped twice", env: []string{"TEND_EXIT_CODE_MAP=143:0,143:1"},
			wants: []string{`TEND_EXIT_CODE_MAP="143:0,143:1"`, "143 is mapped twice"}},
		{name: "a main program named like a settings group", env: []string{"TEND_MAIN_NAME=log"},
			wants: []string{`TEND_MAIN_NAME="log"`, "TEND_LOG_"}},
		{name: "a NUL byte in a command", files: map[string]string{"app.conf": "[program:agent]\ncommand = sleep\x00 100\n"},
			wants: []string{"app.conf:2", "NUL byte"}},
		{name: "a program name of 5000 characters", files: map[string]string{"app.conf": "[program:" + longName + "]\ncommand = sleep 100\n"},
			wants: []string{"app.conf:1", "5000 characters, more than the limit of 64"}},
		{name: "a conf.d line of 2 MiB", files: map[string]string{"app.conf": "[program:agent]\ncommand = echo " + strings.Repeat("x", 2<<20) + "\n"},
			wants: []string{"app.conf:2", "longer than the limit of 1MiB", `"command = echo xxx`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			refusedBeforeStart(t, tc.env, tc.files, tc.wants...)
		})
	}
}

// TestUnknownVariableSuggestsOnlyAPlausibleName: TEND_FOO_BAR_COMMAND is
// not the main program's command; tend suggests the name the user most
// likely meant, a program foobar.
func TestUnknownVariableSuggestsOnlyAPlausibleName(t *testing.T) {
	code, _, stderr := runTend(t, tendOptions{Env: []string{"TEND_FOO_BAR_COMMAND=sleep 100"}, Args: []string{"check"}}, 20*time.Second)
	if code != 2 || !strings.Contains(stderr, "TEND_FOO_BAR_COMMAND") || !strings.Contains(stderr, "did you mean TEND_FOOBAR_COMMAND?") {
		t.Errorf("exit %d, want 2 and a suggestion of TEND_FOOBAR_COMMAND:\n%s", code, stderr)
	}
	if strings.Contains(stderr, "TEND_MAIN_COMMAND") {
		t.Errorf("an unrelated program's variable is suggested:\n%s", stderr)
	}
}

// TestStopTimeoutAloneIsValid: TEND_STOP_TIMEOUT=1s without a flush
// reserve is valid (the reserve's default shrinks to a tenth of it), and
// TERM stops tend within it.
func TestStopTimeoutAloneIsValid(t *testing.T) {
	env := []string{"TEND_STOP_TIMEOUT=1s"}
	code, out, stderr := runTend(t, tendOptions{Env: env, Args: []string{"check"}}, 20*time.Second)
	if code != 0 || !strings.Contains(out, "TEND_STOP_FLUSH_RESERVE=100ms") {
		t.Fatalf("tend check: exit %d\n%s%s", code, out, stderr)
	}
	p := startAnswering(t, env...)
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(20 * time.Second); code != 143 {
		t.Errorf("exit %d, want 143 (sleep stopped by TERM)\nstderr:\n%s", code, p.Stderr())
	}
}

// TestTermDuringStartUpIsAlwaysAStop starts tend as PID 1 of its own
// namespace 100 times and sends TERM the moment it starts reading its
// configuration (it opens conf.d). Every run ends by a stop: 143 from the
// main program, or 0 when the stop came before the main program started;
// never Go's default action for TERM, an exit 2 with no message.
func TestTermDuringStartUpIsAlwaysAStop(t *testing.T) {
	requireRoot(t)
	confDir := t.TempDir()
	confD := filepath.Join(confDir, "conf.d")
	if err := os.MkdirAll(confD, 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, confD, unix.IN_OPEN); err != nil {
		t.Fatal(err)
	}
	events := make([]byte, 4096)
	drain := func() {
		for {
			if _, err := unix.Read(fd, events); err != nil {
				return
			}
		}
	}
	// waitOpen waits until tend opens conf.d.
	waitOpen := func() error {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, 10_000)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || n == 0 {
				return fmt.Errorf("tend did not open conf.d within 10s: %v", err)
			}
			return nil
		}
	}

	counts := map[int]int{}
	for i := 0; i < 100; i++ {
		drain()
		p := startTend(t, tendOptions{PID1: true, Env: []string{"TEND_CONFIG_DIR=" + confDir}, Args: []string{"--", "sleep", "1000"}})
		var pid int
		for pid == 0 && !p.Exited() {
			pid = p.nsInit()
		}
		if err := waitOpen(); err != nil {
			t.Fatalf("run %d: %v\nstderr:\n%s", i, err, p.Stderr())
		}
		syscall.Kill(pid, syscall.SIGTERM)
		code := p.Wait(30 * time.Second)
		counts[code]++
		if code != 0 && code != 143 {
			t.Errorf("run %d: exit %d, want a stop (143, or 0 before the main program started)\nstderr:\n%s", i, code, p.Stderr())
			if code == 2 && p.Stderr() == "" {
				t.Errorf("run %d: exit 2 without a message is Go's default action for TERM: the handler was not installed yet", i)
			}
			break
		}
	}
	t.Logf("exit codes of the runs: %v", counts)
}

// TestSignalCommandNamesTheBadSignal: tend signal main BOGUS exits 2 and
// names BOGUS, not the whole argument list.
func TestSignalCommandNamesTheBadSignal(t *testing.T) {
	code, _, stderr := runTend(t, tendOptions{Args: []string{"signal", "main", "BOGUS"}}, 20*time.Second)
	if code != 2 || !strings.Contains(stderr, `"BOGUS"`) || strings.Contains(stderr, `"main BOGUS"`) {
		t.Errorf("exit %d, want 2 and a message naming \"BOGUS\":\n%s", code, stderr)
	}
}

// TestDrainWaitReportsNoSuccessItDidNotSee: tend drain --wait with no tend
// to answer exits 1, whatever the socket's path says (here, a directory
// called EOF).
func TestDrainWaitReportsNoSuccessItDidNotSee(t *testing.T) {
	dir, err := os.MkdirTemp("", "EOF")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	code, _, stderr := runTend(t, tendOptions{Env: []string{"TEND_SOCKET=" + filepath.Join(dir, "EOF.sock")}, Args: []string{"drain", "--wait"}}, 20*time.Second)
	if code != 1 || !strings.Contains(stderr, "connect") {
		t.Errorf("exit %d, want 1 and the reason:\n%s", code, stderr)
	}
}

package tests

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// workDir holds the binaries built for this run; TestMain removes it.
var workDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tend-tests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		os.Exit(1)
	}
	workDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build is the one build of tend and the helpers shared by every test.
// It runs on first use, so fuzzing and config-only runs never pay for it.
var build struct {
	once    sync.Once
	tend    string
	helpers string
	err     error
}

// moduleRoot returns the directory of go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside a Go module")
	}
	return filepath.Dir(mod), nil
}

// goTool returns the go command: from PATH, else from GOROOT.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

// buildTags are the build tags of `make build` (the Makefile's TAGS;
// TestTestsBuildWhatMakeBuilds checks that they agree).
const buildTags = "nethttpomithttp2"

// goBuild runs `go build` in the module root with extra arguments, as a
// static binary like the one `make build` makes (with its build tags).
func goBuild(args ...string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command(goTool(), append([]string{"build", "-trimpath", "-tags", buildTags}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
	}
	return nil
}

// buildAll builds tend and every helper once.
func buildAll(t testing.TB) {
	t.Helper()
	build.once.Do(func() {
		build.tend = filepath.Join(workDir, "tend")
		build.helpers = filepath.Join(workDir, "helpers")
		if err := os.MkdirAll(build.helpers, 0o755); err != nil {
			build.err = err
			return
		}
		if err := goBuild("-o", build.tend, "./cmd/tend"); err != nil {
			build.err = err
			return
		}
		build.err = goBuild("-o", build.helpers+"/", "./tests/helpers/...")
	})
	if build.err != nil {
		t.Fatalf("build: %v", build.err)
	}
}

// tendPath returns the tend binary built for this run.
func tendPath(t testing.TB) string {
	buildAll(t)
	return build.tend
}

// helperPath returns the path of the helper program tests/helpers/NAME.
func helperPath(t testing.TB, name string) string {
	buildAll(t)
	p := filepath.Join(build.helpers, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("helper %s: %v", name, err)
	}
	return p
}

// buildTend builds tend again with extra `go build` flags (such as
// -ldflags) into the test's temporary directory.
func buildTend(t *testing.T, flags ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "tend")
	args := append(append([]string{}, flags...), "-o", out, "./cmd/tend")
	if err := goBuild(args...); err != nil {
		t.Fatal(err)
	}
	return out
}

// inCI reports whether the suite runs in CI, where a missing requirement
// is a failure rather than a reason to skip.
func inCI() bool { return os.Getenv("CI") == "true" }

// skipOrFail skips the test, or fails it in CI.
func skipOrFail(t testing.TB, reason string) {
	t.Helper()
	if inCI() {
		t.Fatalf("CI=true but %s", reason)
	}
	t.Skip(reason)
}

// requireRoot skips the test unless it runs as root and unshare is
// installed (PID namespaces need both); in CI it fails instead.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "this test needs root (PID namespaces with unshare --pid)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		skipOrFail(t, "this test needs unshare from util-linux")
	}
}

// requireJava skips the test unless java and javac are installed; in CI
// it fails instead.
func requireJava(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"java", "javac"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(t, "this test needs a JDK ("+tool+" not found in PATH)")
		}
	}
}

// tendOptions say how startTend runs tend.
type tendOptions struct {
	// Args are tend's arguments, such as {"--", "sh", "-c", "exit 7"}.
	Args []string
	// Env is added to the hermetic base environment (KEY=VALUE); a later
	// entry wins over an earlier one and over the base.
	Env []string
	// PID1 runs tend as PID 1 of a new PID namespace, with its own /proc
	// (unshare --pid --fork --mount-proc). Needs root: call requireRoot.
	PID1 bool
	// Init, with PID1, runs this command as the namespace's PID 1 and tend
	// as its argument, so tend is not PID 1 (Init = {nonreaper, "--"}).
	Init []string
	// Binary replaces the tend built for this run.
	Binary string
	// Dir is the working directory (default: the test's temporary dir).
	Dir string
	// Stdout, when set, is tend's stdout instead of a buffer (Stdout()
	// then returns ""). The caller closes its own copy after startTend.
	Stdout *os.File
}

// tendProcess is a running tend.
type tendProcess struct {
	t       testing.TB
	cmd     *exec.Cmd
	binary  string
	pid1    bool
	stdout  lockedBuffer
	stderr  lockedBuffer
	done    chan struct{}
	code    int
	exited  time.Time // when the wait for tend returned; set before done is closed
	pidOnce sync.Once
	pid     int
	seen    []string // what the last look for tend's PID that found any process found instead
	// Closed when tend's own process has exited (tendExited says when),
	// which comes before the wait for it returns (after unshare's exit as
	// PID 1, after its output is copied in any case); nil until tend's
	// PID is known.
	tendDone   chan struct{}
	tendExited time.Time
}

// baseEnv is the environment every tend under test starts with: the
// test's own minus any TEND_ variable, the helpers first in PATH, an empty
// conf.d directory and a control socket of its own (parallel tends must
// not share /run/tend.sock).
func baseEnv(t testing.TB) []string {
	t.Helper()
	var env []string
	path := ""
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "TEND_"):
		case strings.HasPrefix(kv, "PATH="):
			path = strings.TrimPrefix(kv, "PATH=")
		default:
			env = append(env, kv)
		}
	}
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
	}
	// Unix socket paths are limited to 108 bytes; t.TempDir's can be longer.
	sock, err := os.MkdirTemp("", "tsock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sock) })
	return append(env,
		"PATH="+build.helpers+string(os.PathListSeparator)+path,
		"TEND_CONFIG_DIR="+t.TempDir(),
		"TEND_SOCKET="+filepath.Join(sock, "tend.sock"),
	)
}

// mergeEnv returns base with extra applied: a later KEY wins.
func mergeEnv(base, extra []string) []string {
	out := append([]string{}, base...)
	for _, kv := range extra {
		key, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range out {
			if k, _, _ := strings.Cut(old, "="); k == key {
				out[i], replaced = kv, true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// startTend starts tend as opts say and returns at once. The process, and
// for PID1 its whole namespace, is killed when the test ends.
func startTend(t testing.TB, opts tendOptions) *tendProcess {
	t.Helper()
	bin := opts.Binary
	if bin == "" {
		bin = tendPath(t)
	} else {
		buildAll(t)
	}
	argv := append([]string{bin}, opts.Args...)
	if opts.PID1 {
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			t.Fatalf("unshare: %v", err)
		}
		// --kill-child: should the test die, the namespace dies with it.
		prefix := []string{unshare, "--pid", "--fork", "--mount-proc", "--kill-child"}
		argv = append(append(prefix, opts.Init...), argv...)
	} else if len(opts.Init) > 0 {
		t.Fatal("tendOptions.Init needs PID1")
	}
	p := &tendProcess{t: t, binary: bin, pid1: opts.PID1, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = mergeEnv(baseEnv(t), opts.Env)
	p.cmd.Dir = opts.Dir
	if p.cmd.Dir == "" {
		p.cmd.Dir = t.TempDir()
	}
	p.cmd.Stdout = &p.stdout
	if opts.Stdout != nil {
		p.cmd.Stdout = opts.Stdout
	}
	p.cmd.Stderr = &p.stderr
	// A process left behind holding tend's stdout must not hang the test.
	p.cmd.WaitDelay = 5 * time.Second
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", strings.Join(argv, " "), err)
	}
	if !opts.PID1 {
		p.watchExit(p.cmd.Process.Pid)
	}
	go func() {
		err := p.cmd.Wait()
		p.exited = time.Now()
		p.code = exitCodeOf(p.cmd.ProcessState, err)
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.Exited() {
			return
		}
		// Everything below tend, by PID and start time: its programs run
		// in their own process groups and would outlive it.
		var below []procInfo
		for _, pid := range descendants(p.cmd.Process.Pid) {
			if info, err := readProc(pid); err == nil {
				below = append(below, info)
			}
		}
		if p.pid1 {
			// Killing the namespace's PID 1 kills everything inside it.
			if init := p.nsInit(); init > 0 {
				syscall.Kill(init, syscall.SIGKILL)
			}
		}
		p.cmd.Process.Kill()
		for _, info := range below {
			if alive(info) {
				syscall.Kill(info.PID, syscall.SIGKILL)
			}
		}
		<-p.done
		t.Logf("tend was still running at the end of the test; killed.\nstdout:\n%s\nstderr:\n%s", p.Stdout(), p.Stderr())
	})
	return p
}

// exitCodeOf renders a finished process's status as a shell does: the
// exit code, or 128+N when killed by signal N.
func exitCodeOf(ps *os.ProcessState, err error) int {
	if ps == nil {
		return -1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// runTend runs tend to completion within timeout and returns its exit
// code, stdout and stderr.
func runTend(t testing.TB, opts tendOptions, timeout time.Duration) (code int, stdout, stderr string) {
	t.Helper()
	p := startTend(t, opts)
	code = p.Wait(timeout)
	return code, p.Stdout(), p.Stderr()
}

// Exited reports whether tend has exited.
func (p *tendProcess) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done is closed when tend has exited.
func (p *tendProcess) Done() <-chan struct{} { return p.done }

// Wait waits for tend to exit and returns its exit code; the test fails
// (and tend is killed) when it takes longer than timeout.
func (p *tendProcess) Wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		p.t.Fatalf("tend did not exit within %s\nstdout:\n%s\nstderr:\n%s", timeout, p.Stdout(), p.Stderr())
		return -1
	}
}

// watchPeakRSS reads tend's peak resident memory (VmHWM) every 50 ms
// until tend exits, and returns a function that waits for that exit and
// returns the last value read, in bytes: the peak up to at most 50 ms
// before the exit. (The rusage of the wait for tend cannot say it: a
// child forked with vfork carries its parent's peak until it executes.)
func watchPeakRSS(p *tendProcess) func() int64 {
	p.t.Helper()
	pid := p.PID()
	var peak int64 // written by the goroutine until it closes done
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if b, ok := readHWM(pid); ok {
				peak = b
			}
			select {
			case <-p.done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return func() int64 {
		<-done
		return peak
	}
}

// procHWM returns the peak resident memory of process pid so far (VmHWM),
// in bytes.
func procHWM(t testing.TB, pid int) int64 {
	t.Helper()
	b, ok := readHWM(pid)
	if !ok {
		t.Fatalf("no VmHWM in /proc/%d/status", pid)
	}
	return b
}

// readHWM returns VmHWM of process pid, in bytes.
func readHWM(pid int) (int64, bool) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kib << 10, err == nil
		}
	}
	return 0, false
}

// Stdout returns what tend wrote to stdout so far.
func (p *tendProcess) Stdout() string { return p.stdout.String() }

// Stderr returns what tend wrote to stderr so far.
func (p *tendProcess) Stderr() string { return p.stderr.String() }

// nsInit returns the host PID of the namespace's PID 1 (unshare's child),
// or 0 when it is gone.
func (p *tendProcess) nsInit() int {
	kids := childrenOf(p.cmd.Process.Pid)
	if len(kids) == 0 {
		return 0
	}
	return kids[0]
}

// PID returns tend's PID as this test sees it. For PID1 it is the process
// below unshare that runs the tend binary (it is 1 inside the namespace).
func (p *tendProcess) PID() int {
	p.t.Helper()
	p.pidOnce.Do(func() {
		if !p.pid1 {
			p.pid = p.cmd.Process.Pid
			return
		}
		want, err := os.Stat(p.binary)
		if err != nil {
			p.t.Fatalf("tend's binary: %v", err)
		}
		// The binary is compared by inode, not by the path its exe link
		// reads as: that path is the one seen from tend's mount namespace,
		// and gains " (deleted)" should the file be replaced.
		looks := 0
		waitFor(p.t, 10*time.Second, "tend to start in its namespace", func() bool {
			looks++
			var seen []string
			for _, pid := range descendants(p.cmd.Process.Pid) {
				exe := fmt.Sprintf("/proc/%d/exe", pid)
				if fi, err := os.Stat(exe); err == nil && os.SameFile(fi, want) {
					p.pid = pid
					return true
				}
				link, err := os.Readlink(exe)
				if err != nil {
					link = err.Error()
				}
				seen = append(seen, fmt.Sprintf("%d: %s", pid, link))
			}
			if len(seen) > 0 || p.seen == nil {
				p.seen = append(seen, fmt.Sprintf("(look %d)", looks))
			}
			return p.Exited()
		})
		if p.pid != 0 {
			p.watchExit(p.pid)
		}
	})
	if p.pid == 0 {
		p.t.Fatalf("tend exited before its PID was found (code %d); below unshare (PID %d) the last look that found any process saw %q\nstderr:\n%s",
			p.code, p.cmd.Process.Pid, p.seen, p.Stderr())
	}
	return p.pid
}

// watchExit records when tend's process pid has exited, from a pidfd
// (readable at the exit, before the process is reaped). As PID 1 of its
// namespace, that is once every process of the namespace is gone, as a
// container runtime sees its init exit; unshare exits after that. In any
// case the test's wait for tend also copies tend's last output: neither
// is tend's work. Without a pidfd, the wait's return is the exit.
func (p *tendProcess) watchExit(pid int) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	p.tendDone = make(chan struct{})
	go func() {
		defer close(p.tendDone)
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, -1)
			if err == unix.EINTR {
				continue
			}
			if err == nil && n > 0 {
				p.tendExited = time.Now()
			}
			return
		}
	}()
}

// SignalAt sends sig to tend and returns when it was sent: after tend's
// PID is known (as PID 1 of a namespace, finding it walks /proc, which a
// busy machine can make slow), so that a stop timed from it counts tend's
// time only.
func (p *tendProcess) SignalAt(sig syscall.Signal) time.Time {
	p.t.Helper()
	p.PID()
	sent := time.Now()
	p.Signal(sig)
	return sent
}

// TookSince is how long after since tend's process exited; the test must
// have waited for the exit.
func (p *tendProcess) TookSince(since time.Time) time.Duration {
	p.t.Helper()
	if !p.Exited() {
		p.t.Fatal("TookSince before tend exited")
	}
	return p.exitTime().Sub(since)
}

// exitTime is when tend's process exited.
func (p *tendProcess) exitTime() time.Time {
	if p.tendDone != nil {
		select {
		case <-p.tendDone:
			if !p.tendExited.IsZero() {
				return p.tendExited
			}
		case <-time.After(time.Second):
		}
	}
	return p.exited
}

// Timeline says when a signal sent at sent left the test and when tend's
// exit was seen, in the form of the times of tend's events, so that a slow
// stop shows whether the time went before tend had the signal, in tend's
// own events, or after its last one.
func (p *tendProcess) Timeline(sent time.Time) string {
	return fmt.Sprintf("signal sent %s, tend's exit %s, exit seen %s", sent.Format(time.RFC3339Nano),
		p.exitTime().Format(time.RFC3339Nano), p.exited.Format(time.RFC3339Nano))
}

// Signal sends sig to tend.
func (p *tendProcess) Signal(sig syscall.Signal) {
	p.t.Helper()
	if err := syscall.Kill(p.PID(), sig); err != nil && !p.Exited() {
		p.t.Fatalf("signal %v to tend: %v", sig, err)
	}
}

// MainPID returns the PID (as the test sees it) of tend's main program,
// waiting until it runs.
func (p *tendProcess) MainPID() int {
	p.t.Helper()
	tend := p.PID()
	var pid int
	waitFor(p.t, 10*time.Second, "the main program to start", func() bool {
		if kids := childrenOf(tend); len(kids) > 0 {
			pid = kids[0]
			return true
		}
		return p.Exited()
	})
	if pid == 0 {
		p.t.Fatalf("tend exited before its main program was seen (code %d)\nstderr:\n%s", p.code, p.Stderr())
	}
	return pid
}

// lockedBuffer is a bytes.Buffer safe for one writer and many readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond every 10ms until it is true, and fails the test
// after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	waitEvery(t, timeout, 10*time.Millisecond, what, cond)
}

// waitEvery is waitFor asking cond every interval.
func waitEvery(t testing.TB, timeout, interval time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(interval)
	}
}

// waitForFile waits until path exists and returns its content.
func waitForFile(t testing.TB, timeout time.Duration, path string) string {
	t.Helper()
	var data []byte
	waitFor(t, timeout, path, func() bool {
		var err error
		data, err = os.ReadFile(path)
		return err == nil
	})
	return string(data)
}

// procInfo is what /proc/PID/stat says about a process.
type procInfo struct {
	PID   int
	Comm  string
	State byte // R, S, D, Z, T, ...
	PPID  int
	// Start is the start time in clock ticks since boot; with PID it
	// names one process even when PIDs are recycled.
	Start uint64
}

// readProc reads /proc/PID/stat.
func readProc(pid int) (procInfo, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procInfo{}, err
	}
	s := string(data)
	// comm may hold spaces and parentheses: it ends at the last ')'.
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procInfo{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 20 {
		return procInfo{}, fmt.Errorf("short /proc/%d/stat", pid)
	}
	info := procInfo{PID: pid, Comm: s[open+1 : end], State: f[0][0]}
	info.PPID, _ = strconv.Atoi(f[1])
	info.Start, _ = strconv.ParseUint(f[19], 10, 64)
	return info, nil
}

// allProcs returns every process in this PID namespace's /proc.
func allProcs() []procInfo {
	ents, _ := os.ReadDir("/proc")
	var out []procInfo
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if info, err := readProc(pid); err == nil {
			out = append(out, info)
		}
	}
	return out
}

// childrenOf returns the PIDs whose parent is pid, in PID order: from the
// kernel's lists of each thread's children where it has them, else from a
// walk of all of /proc.
func childrenOf(pid int) []int {
	if kids, ok := kernelChildren(pid); ok {
		return kids
	}
	var kids []int
	for _, p := range allProcs() {
		if p.PPID == pid {
			kids = append(kids, p.PID)
		}
	}
	return kids
}

// kernelChildren returns the PIDs whose parent is pid, in PID order, from
// the kernel's lists of each of its threads' children
// (/proc/PID/task/TID/children). Those read no other process's files: a
// walk of /proc reads every process on the machine, and one busy in the
// kernel (a JVM mapping its heap, a program near its memory limit) can
// hold up the read of its stat. A pid that is gone has no children. It
// reports false only when the lists are not built into the kernel.
func kernelChildren(pid int) ([]int, bool) {
	lists, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if len(lists) == 0 {
		return nil, childrenLists()
	}
	kids := []int{}
	for _, list := range lists {
		data, _ := os.ReadFile(list)
		for _, f := range strings.Fields(string(data)) {
			if kid, err := strconv.Atoi(f); err == nil {
				kids = append(kids, kid)
			}
		}
	}
	slices.Sort(kids)
	return kids, true
}

// childrenLists reports whether the kernel keeps each thread's children
// in /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN).
func childrenLists() bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d/task/%d/children", os.Getpid(), os.Getpid()))
	return err == nil
}

// descendants returns every process below root in the process tree, the
// zombies included: from the kernel's children lists where it has them,
// else from one walk of all of /proc.
func descendants(root int) []int {
	children := childrenOf
	if !childrenLists() {
		byParent := map[int][]int{}
		for _, p := range allProcs() {
			byParent[p.PPID] = append(byParent[p.PPID], p.PID)
		}
		children = func(pid int) []int { return byParent[pid] }
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, k := range children(pid) {
			out = append(out, k)
			queue = append(queue, k)
		}
	}
	return out
}

// alive reports whether the process p still runs: it exists with the same
// start time and is not a zombie.
func alive(p procInfo) bool {
	now, err := readProc(p.PID)
	return err == nil && now.Start == p.Start && now.State != 'Z'
}

// mustProc reads /proc/PID/stat or fails the test.
func mustProc(t testing.TB, pid int) procInfo {
	t.Helper()
	info, err := readProc(pid)
	if err != nil {
		t.Fatalf("process %d: %v", pid, err)
	}
	return info
}

// nsPID returns pid's PID in the innermost PID namespace it belongs to
// (the last field of NSpid in /proc/PID/status).
func nsPID(t testing.TB, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			n, _ := strconv.Atoi(f[len(f)-1])
			return n
		}
	}
	t.Fatalf("no NSpid in /proc/%d/status", pid)
	return 0
}

// bothModes runs f as two subtests: tend run directly, and tend as PID 1
// of its own PID namespace (skipped without root, outside CI).
func bothModes(t *testing.T, f func(t *testing.T, pid1 bool)) {
	t.Run("direct", func(t *testing.T) {
		t.Parallel()
		f(t, false)
	})
	t.Run("pid1", func(t *testing.T) {
		t.Parallel()
		requireRoot(t)
		f(t, true)
	})
}

// atoi converts s or fails the test.
func atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sleeper is a main program that runs until it is stopped.
var sleeper = []string{"sleep", "600"}

// counting returns a shell command that appends a line to file each time
// it starts, then runs script.
func counting(file, script string) string {
	return fmt.Sprintf(`sh -c 'echo start >> %s; %s'`, file, script)
}

func testCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestStartIsRunningAfterStartsecs(t *testing.T) {
	r := startRig(t, sleeper, "TEND_SVC_COMMAND=sleep 600", "TEND_SVC_STARTSECS=0.3")
	st := r.waitState("svc", Running)
	if !st.Ready || st.Pid == 0 || st.Restarts != 0 || st.Since.IsZero() {
		t.Errorf("svc after startsecs: %+v", st)
	}
	if got, want := r.path("svc"), []State{Waiting, Starting, Running}; !slices.Equal(got, want) {
		t.Errorf("svc went through %v, want %v", got, want)
	}
}

func TestQuickExitsBackOffThenFatal(t *testing.T) {
	starts := filepath.Join(t.TempDir(), "starts")
	// A wide startsecs: even on a loaded machine each exit is a failed start.
	r := startRig(t, sleeper,
		"TEND_CRASH_COMMAND="+counting(starts, "exit 3"), "TEND_CRASH_STARTRETRIES=2", "TEND_CRASH_STARTSECS=30")
	st := r.waitState("crash", Fatal)
	if n := lines(t, starts); n != 3 {
		t.Errorf("crash started %d times, want startretries+1 = 3", n)
	}
	if n := r.count("crash", Backoff); n != 2 {
		t.Errorf("crash backed off %d times, want 2: %v", n, r.path("crash"))
	}
	if !strings.Contains(st.Reason, "3 times") || !strings.Contains(st.Reason, "last exit code 3") || !strings.Contains(st.Reason, "30s") {
		t.Errorf("FATAL reason %q does not say how often and how it failed", st.Reason)
	}
	if st.LastExit == nil || st.LastExit.Code != 3 || st.Pid != 0 || st.Restarts != 2 {
		t.Errorf("crash: %+v", st)
	}
	// A side program that is FATAL does not stop the container.
	if m := r.program("main").status(); m.State == Exited || m.State == Stopped || m.State == Stopping {
		t.Errorf("main: %+v", m)
	}
	// A start request gives it its retries again.
	if err := r.sup.Start(testCtx(t), "crash"); err != nil {
		t.Fatalf("start crash: %v", err)
	}
	r.waitFor("crash", "to be FATAL again", func(st ProgramStatus) bool { return st.State == Fatal && lines(t, starts) == 6 })
}

func TestStopDuringBackoffKeepsItStopped(t *testing.T) {
	starts := filepath.Join(t.TempDir(), "starts")
	r := startRig(t, sleeper, "TEND_CRASH_COMMAND="+counting(starts, "exit 1"), "TEND_CRASH_STARTRETRIES=100")
	r.waitState("crash", Backoff)
	if err := r.sup.StopProgram(testCtx(t), "crash"); err != nil {
		t.Fatalf("stop during backoff: %v", err)
	}
	st := r.program("crash").status()
	if st.State != Stopped || st.Reason != "stopped" {
		t.Fatalf("after stop: %+v", st)
	}
	n := lines(t, starts)
	// Longer than any backoff it could have been in (the first few are
	// well under a second).
	time.Sleep(1500 * time.Millisecond)
	if got := lines(t, starts); got != n || r.program("crash").status().State != Stopped {
		t.Errorf("crash started again after the stop: %d starts, then %d; states %v", n, got, r.path("crash"))
	}
}

func TestRestartRequestReplacesTheProcess(t *testing.T) {
	r := startRig(t, sleeper, "TEND_SVC_COMMAND=sleep 600", "TEND_SVC_STARTSECS=0.1")
	before := r.waitState("svc", Running)
	if err := r.sup.Restart(testCtx(t), "svc"); err != nil {
		t.Fatalf("restart: %v", err)
	}
	// Restart answers once the new process runs.
	after := r.program("svc").status()
	if after.Pid == 0 || after.Pid == before.Pid || after.Restarts != 1 {
		t.Errorf("after restart: %+v (before: pid %d)", after, before.Pid)
	}
	if err := syscall.Kill(before.Pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the old process %d is still there: %v", before.Pid, err)
	}
	want := []State{Waiting, Starting, Running, Stopping, Waiting, Starting}
	if got := r.path("svc"); !slices.Equal(got[:min(len(got), len(want))], want) {
		t.Errorf("svc went through %v, want %v first", got, want)
	}
	if err := r.sup.Start(testCtx(t), "svc"); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("start of a running program: %v", err)
	}
}

func TestStopTimeoutKillsTheProcess(t *testing.T) {
	// The exec'd sleep keeps ignoring TERM; it is ready once it does.
	trapped := filepath.Join(t.TempDir(), "trapped")
	r := startRig(t, sleeper, fmt.Sprintf(`TEND_STUBBORN_COMMAND=sh -c 'trap "" TERM; touch %s; exec sleep 600'`, trapped),
		"TEND_STUBBORN_READY=exec:test -f "+trapped, "TEND_STUBBORN_STOPWAITSECS=0.3")
	r.waitFor("stubborn", "to be ready", func(st ProgramStatus) bool { return st.Ready })
	if err := r.sup.StopProgram(testCtx(t), "stubborn"); err != nil {
		t.Fatalf("stop: %v", err)
	}
	st := r.program("stubborn").status()
	if st.State != Stopped || st.LastExit == nil || st.LastExit.Signal != "KILL" || st.LastExit.Code != 137 {
		t.Errorf("after stop: %+v, last exit %+v; want STOPPED, killed", st, st.LastExit)
	}
	if !r.logged("stubborn", "killing") {
		t.Error("no event says the program was killed")
	}
}

func TestAutorestartPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy  string
		code    int
		restart bool
	}{
		{"unexpected", 0, false},
		{"unexpected", 3, true},
		{"true", 0, true},
		{"false", 3, false},
	} {
		t.Run(fmt.Sprintf("%s/exit%d", tc.policy, tc.code), func(t *testing.T) {
			starts := filepath.Join(t.TempDir(), "starts")
			// It runs past startsecs, so its exit is not a failed start.
			r := startRig(t, sleeper,
				"TEND_SVC_COMMAND="+counting(starts, fmt.Sprintf("sleep 0.3; exit %d", tc.code)),
				"TEND_SVC_STARTSECS=0.1", "TEND_SVC_AUTORESTART="+tc.policy)
			if tc.restart {
				st := r.waitFor("svc", "to restart", func(st ProgramStatus) bool { return st.Restarts >= 1 })
				if st.LastExit == nil || st.LastExit.Code != tc.code {
					t.Errorf("svc: %+v", st)
				}
				p := r.path("svc")
				if i := slices.Index(p, Backoff); i < 1 || p[i-1] != Running {
					t.Errorf("svc went through %v, want RUNNING then BACKOFF", p)
				}
				return
			}
			st := r.waitState("svc", Exited)
			if st.LastExit.Code != tc.code || st.Restarts != 0 || st.Reason != fmt.Sprintf("exited with code %d", tc.code) {
				t.Errorf("svc: %+v", st)
			}
			time.Sleep(500 * time.Millisecond)
			if n := lines(t, starts); n != 1 {
				t.Errorf("svc started %d times, want once", n)
			}
		})
	}
}

func TestMainExitEndsRunWithItsCode(t *testing.T) {
	r := startRig(t, []string{"sh", "-c", "exit 7"}, "TEND_SVC_COMMAND=sleep 600")
	if code := r.wait(); code != 7 {
		t.Errorf("Run returned %d, want the main program's 7", code)
	}
	// The main program is not retried (autorestart=false by default).
	if got, want := r.path("main"), []State{Waiting, Starting, Exited}; !slices.Equal(got, want) {
		t.Errorf("main went through %v, want %v", got, want)
	}
	if st := r.program("svc").status(); st.State != Stopped || st.Pid != 0 {
		t.Errorf("svc after the stop: %+v", st)
	}
}

func TestMissingMainCommandEndsRunWith127(t *testing.T) {
	r := startRig(t, []string{"/nonexistent/service"})
	if code := r.wait(); code != 127 {
		t.Errorf("Run returned %d, want 127", code)
	}
	if st := r.program("main").status(); st.State != Exited || !strings.Contains(st.Reason, "/nonexistent/service") {
		t.Errorf("main: %+v", st)
	}
}

func TestFatalCriticalSideProgramEndsRun(t *testing.T) {
	r := startRig(t, sleeper, "TEND_VAULT_COMMAND=sh -c 'exit 0'", "TEND_VAULT_CRITICAL=true", "TEND_VAULT_STARTRETRIES=0")
	if code := r.wait(); code != 1 {
		t.Errorf("Run returned %d, want 1 (a critical program failed with code 0)", code)
	}
	if st := r.program("vault").status(); st.State != Fatal {
		t.Errorf("vault: %+v", st)
	}
	if st := r.program("main").status(); st.State != Stopped || st.Pid != 0 {
		t.Errorf("main should have been stopped: %+v", st)
	}
}

func TestRestartOfMainRestartsOnlyMain(t *testing.T) {
	r := startRig(t, sleeper, "TEND_SVC_COMMAND=sleep 600", "TEND_SVC_STARTSECS=0.1", "TEND_MAIN_STARTSECS=0.1")
	svc := r.waitState("svc", Running)
	before := r.waitState("main", Running)
	if err := r.sup.Restart(testCtx(t), "main"); err != nil {
		t.Fatalf("restart main: %v", err)
	}
	after := r.waitState("main", Running)
	if after.Pid == before.Pid || after.Restarts != 1 {
		t.Errorf("main after restart: %+v (before: pid %d)", after, before.Pid)
	}
	if now := r.program("svc").status(); now.Pid != svc.Pid || now.State != Running {
		t.Errorf("svc was touched by the restart of main: %+v, was pid %d", now, svc.Pid)
	}
	select {
	case <-r.done:
		t.Fatalf("Run returned %d after a restart of main", r.code)
	default:
	}
}

func TestStopOfMainRunsTheStopSequence(t *testing.T) {
	r := startRig(t, sleeper, "TEND_SVC_COMMAND=sleep 600", "TEND_SVC_STARTSECS=0.1", "TEND_MAIN_STARTSECS=0.1")
	r.waitState("svc", Running)
	r.waitState("main", Running)
	if err := r.sup.StopProgram(testCtx(t), "main"); err != nil {
		t.Fatalf("stop main: %v", err)
	}
	if code := r.wait(); code != 143 {
		t.Errorf("Run returned %d, want the main program's 143 (sleep ended by TERM)", code)
	}
	if st := r.program("svc").status(); st.State != Stopped {
		t.Errorf("svc after the stop sequence: %+v", st)
	}
}

func TestSuspendedProgramIsNotReadyAndGetsContOnStop(t *testing.T) {
	r := startRig(t, sleeper, "TEND_MAIN_STARTSECS=0.1", "TEND_MAIN_STOPWAITSECS=5")
	st := r.waitFor("main", "to be ready", func(st ProgramStatus) bool { return st.Ready })
	if !r.sup.Ready() {
		t.Fatal("not ready with main running")
	}
	if err := syscall.Kill(st.Pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	st = r.waitFor("main", "to show it is stopped", func(st ProgramStatus) bool { return !st.Ready })
	if st.State != Running || st.Reason != suspendedReason || st.Pid == 0 {
		t.Errorf("stopped main: %+v", st)
	}
	if r.sup.Ready() {
		t.Error("ready while the main program is stopped")
	}
	syscall.Kill(st.Pid, syscall.SIGCONT)
	r.waitFor("main", "to be ready again", func(st ProgramStatus) bool { return st.Ready })

	if err := syscall.Kill(st.Pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	r.waitFor("main", "to be stopped again", func(st ProgramStatus) bool { return !st.Ready })
	r.sup.Drain()
	// Continued after its TERM, sleep ends by the TERM; left stopped, it
	// would be killed after its stopwaitsecs (137).
	if code := r.wait(); code != 143 {
		t.Errorf("Run returned %d, want 143: the stopped program should end by its TERM", code)
	}
	if !r.logged("main", "program was stopped by a signal; sent CONT after its stop signal") {
		t.Error("no event says the stopped program was continued")
	}
}

func TestWaitingForADependencyIsAState(t *testing.T) {
	r := startRig(t, sleeper,
		"TEND_DB_COMMAND=sleep 600", "TEND_DB_READY=exec:false", "TEND_DB_PRIORITY=1",
		"TEND_APP_COMMAND=sleep 600", "TEND_APP_DEPENDS_ON=db", "TEND_APP_PRIORITY=2")
	app := r.waitState("app", Waiting)
	if app.Reason != "waiting for db to be ready" || app.Since.IsZero() || app.Pid != 0 {
		t.Errorf("app: %+v", app)
	}
	// The main program waits for every side program's first start.
	if m := r.waitState("main", Waiting); m.Reason != "waiting for the side programs to start" {
		t.Errorf("main: %+v", m)
	}
	if r.sup.Ready() {
		t.Error("ready while programs wait")
	}
	// A start request while it waits is accepted and changes nothing.
	if err := r.sup.Start(testCtx(t), "app"); err != nil {
		t.Errorf("start while waiting: %v", err)
	}
	if err := r.sup.StopProgram(testCtx(t), "app"); err != nil {
		t.Fatalf("stop while waiting: %v", err)
	}
	if st := r.program("app").status(); st.State != Stopped {
		t.Errorf("app after stop: %+v", st)
	}
	// Stopped, app no longer holds the main program back.
	r.waitState("main", Running)
}

func TestStartOfAHeldMainProgramRunsItAgain(t *testing.T) {
	starts := filepath.Join(t.TempDir(), "starts")
	r := startRig(t, []string{"sh", "-c", fmt.Sprintf("echo start >> %s; exit 3", starts)}, "TEND_MAIN_ON_EXIT=hold")
	r.waitFor("main", "to be held", func(ProgramStatus) bool { return r.sup.holding() })
	if err := r.sup.Start(testCtx(t), "main"); err != nil {
		t.Fatalf("start main: %v", err)
	}
	r.waitFor("main", "to have run again and be held", func(st ProgramStatus) bool {
		return lines(t, starts) == 2 && st.State == Exited
	})
	select {
	case <-r.done:
		t.Fatalf("Run returned %d while the main program was held", r.code)
	default:
	}
}

func TestLacksResourcesTellsResourceFailuresFromBadCommands(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("open /dev/null: %w", &fs.PathError{Op: "open", Path: "/dev/null", Err: syscall.EMFILE}), true},
		{fmt.Errorf("start agent: %w", syscall.ENFILE), true},
		{fmt.Errorf("start agent: %w", syscall.EAGAIN), true},
		{fmt.Errorf("start agent: %w", syscall.ENOMEM), true},
		{fmt.Errorf("agent: %w", fs.ErrNotExist), false},
		{fmt.Errorf("agent: not an executable file: %w", fs.ErrPermission), false},
		{fmt.Errorf("start agent: %w", syscall.ENOENT), false},
	} {
		if got := lacksResources(tc.err); got != tc.want {
			t.Errorf("lacksResources(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

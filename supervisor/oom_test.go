package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"tend/resources"
)

// cgroupV2 lays out, in a new directory, the memory files of a cgroup v2
// as the kernel does, with a 64 MiB limit, and returns the directory.
func cgroupV2(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"cgroup.controllers": "cpu io memory pids\n",
		"memory.max":         "67108864\n",
		"memory.current":     "41943040\n",
		"memory.peak":        "67108864\n",
		"memory.stat":        "anon 41943040\nfile 0\ninactive_file 0\n",
		"memory.events":      "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// An OOM kill of a program's process is its last exit's reason, counted
// in its status; the program is restarted by its policy.
func TestOOMKillIsTheLastExitsReason(t *testing.T) {
	dir := cgroupV2(t)
	var mu sync.Mutex
	var named []resources.OOMKill
	r := startRigWith(t, func(s *Supervisor) {
		w, err := resources.NewMemoryWatch(resources.FindCgroup(dir), resources.MemoryWatchOptions{
			Pids: s.Pids,
			OnOOM: func(k resources.OOMKill) {
				mu.Lock()
				named = append(named, k)
				mu.Unlock()
				s.RecordOOMKill(k.Victim.Program)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		s.WatchMemory(w)
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go w.Run(ctx)
	}, sleeper, "TEND_HOG_COMMAND=sleep 600", "TEND_HOG_STARTSECS=0.1", `TEND_HOG_ENVIRONMENT=HOG_HEAP="-Xmx48m"`)
	before := r.waitState("hog", Running)

	// The kernel raises the counter, then kills.
	os.WriteFile(filepath.Join(dir, "memory.events"), []byte("low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\noom_group_kill 0\n"), 0o644)
	syscall.Kill(before.Pid, syscall.SIGKILL)
	st := r.waitFor("hog", "to restart", func(st ProgramStatus) bool { return st.Restarts == 1 && st.State == Running })
	if st.LastExit == nil || st.LastExit.Reason != ExitOOMKilled || st.LastExit.Code != 137 || st.OOMKills != 1 {
		t.Errorf("hog after the kill: %+v, last exit %+v", st, st.LastExit)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(named) != 1 || named[0].Victim.Pid != before.Pid || named[0].LimitBytes != 64<<20 {
		t.Errorf("kills named: %+v", named)
	}
	// The victim carries the environment its process started with: a
	// JVM's heap settings are read from it.
	if len(named) == 1 && !slices.Contains(named[0].Victim.Env, "HOG_HEAP=-Xmx48m") {
		t.Errorf("the victim's environment lacks the program's own variable: %q", named[0].Victim.Env)
	}
	if m := r.sup.memoryWatch().Memory(); m.LimitBytes != 64<<20 {
		t.Errorf("memory reading for the status: %+v", m)
	}

	// A kill -9 from outside is no OOM kill.
	syscall.Kill(st.Pid, syscall.SIGKILL)
	st = r.waitFor("hog", "to restart again", func(st ProgramStatus) bool { return st.Restarts == 2 })
	if st.LastExit.Reason != "" || st.OOMKills != 1 {
		t.Errorf("hog after kill -9: %+v, last exit %+v", st, st.LastExit)
	}
}

// The stop sequence lets a hook beside the programs finish before the
// log flush, and cancels one that runs past the side programs' deadline.
func TestStopWaitsForTasksThenCancelsThem(t *testing.T) {
	r := startRig(t, sleeper, "TEND_STOP_TIMEOUT=3s")
	r.waitState("main", Running)
	finished := make(chan struct{})
	cancelled := make(chan struct{})
	if !r.sup.Go(func(ctx context.Context) {
		<-ctx.Done()
		close(cancelled)
	}) {
		t.Fatal("a task was refused before the stop")
	}
	if !r.sup.Go(func(ctx context.Context) { close(finished) }) {
		t.Fatal("a task was refused before the stop")
	}
	r.cancel()
	r.wait()
	for name, ch := range map[string]chan struct{}{"finished": finished, "cancelled": cancelled} {
		select {
		case <-ch:
		default:
			t.Errorf("the stop sequence did not wait for the task that %s", name)
		}
	}
	if r.sup.Go(func(context.Context) {}) {
		t.Error("a task started after the stop sequence")
	}
}

// While memory is short (usage at 90 % of the limit or more) the status
// shows each program's last usage instead of reading /proc: each read
// charges the kernel's buffers to a cgroup that may be at its limit, and
// the kernel would kill again, tend perhaps. Right after an OOM kill the
// status waits for the moment to pass before it builds anything. The
// figures are read again once memory is no longer short.
func TestStatusKeepsTheLastUsageWhileMemoryIsShort(t *testing.T) {
	dir := cgroupV2(t)
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := startRigWith(t, func(s *Supervisor) {
		w, err := resources.NewMemoryWatch(resources.FindCgroup(dir), resources.MemoryWatchOptions{Pids: s.Pids})
		if err != nil {
			t.Fatal(err)
		}
		s.WatchMemory(w)
	}, sleeper, `TEND_BUSY_COMMAND=sh -c "while :; do :; done"`, "TEND_BUSY_STARTSECS=0.1")
	r.waitState("busy", Running)
	cpu := func() float64 {
		t.Helper()
		for _, p := range r.sup.Status().Programs {
			if p.Name == "busy" {
				if p.Usage == nil {
					t.Fatal("busy has no usage in the status")
				}
				return p.Usage.CPUSeconds
			}
		}
		t.Fatal("no program busy in the status")
		return 0
	}
	grows := func(what string) float64 {
		t.Helper()
		first := cpu()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			if c := cpu(); c > first {
				return c
			}
		}
		t.Fatalf("%s: busy's CPU time stays at %v", what, first)
		return 0
	}
	stays := func(what string) {
		t.Helper()
		first := cpu()
		time.Sleep(200 * time.Millisecond)
		if c := cpu(); c != first {
			t.Fatalf("%s: busy's CPU time read again (%v, then %v) while memory is short", what, first, c)
		}
	}
	grows("at 40 MiB of 64")
	write("memory.current", "65011712\n") // 62 MiB: 97 % of the limit
	stays("at 62 MiB of 64")
	write("memory.current", "41943040\n")
	grows("back at 40 MiB")
	// An OOM kill: the victim's memory may still be charged, and building
	// the status allocates; it waits for that moment to pass.
	write("memory.events", "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\noom_group_kill 0\n")
	began := time.Now()
	cpu()
	if took := time.Since(began); took < 200*time.Millisecond {
		t.Errorf("the status right after an OOM kill was built after %s, without waiting", took)
	}
	grows("a moment after the kill")
}

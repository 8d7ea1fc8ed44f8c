package resources

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tend/procfs"
)

// kills collects what a MemoryWatch reports.
type kills struct {
	mu    sync.Mutex
	kills []OOMKill
	warns []MemoryWarning
}

func (k *kills) oom(x OOMKill) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.kills = append(k.kills, x)
}

func (k *kills) warn(w MemoryWarning) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.warns = append(k.warns, w)
}

func (k *kills) all() []OOMKill {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]OOMKill(nil), k.kills...)
}

func (k *kills) warnings() []MemoryWarning {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]MemoryWarning(nil), k.warns...)
}

// startProgram starts a shell script as a program's process in a group of
// its own, as tend starts programs, and kills the group when the test ends.
func startProgram(t *testing.T, script string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	return cmd
}

// watchFiles starts a MemoryWatch on a cgroup v2 laid out in files, at
// 60 % of a 64 MiB limit, for the programs pids returns.
func watchFiles(t *testing.T, fs cgroupFiles, pids map[string]int, share float64) (*MemoryWatch, *kills) {
	t.Helper()
	fs.v2("", "67108864", 40<<20, 50<<20, 0, 0)
	var got kills
	w, err := NewMemoryWatch(FindCgroup(fs.root), MemoryWatchOptions{
		Share: share, Pids: func() map[string]int { return pids }, OnOOM: got.oom, OnWarning: got.warn,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return w, &got
}

// seen waits until the watch's tracker has sampled pid.
func seen(t *testing.T, w *MemoryWatch, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if rss, _ := w.tracker.Last(pid); rss > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never sampled", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// childOf returns the PID of the process below parent running comm.
func childOf(t *testing.T, parent int, comm string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, pid := range procfs.Descendants(parent) {
			if cmd := readCmdline(pid); len(cmd) > 0 && cmd[0] == comm {
				return pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s below %d", comm, parent)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The kernel raises the counter before it sends the SIGKILL: the death
// of a program's own process by a SIGKILL tend did not send, with a kill
// on the counter, is that kill, named at once with the process's RSS.
func TestDiedNamesTheProgramTheCounterRoseFor(t *testing.T) {
	fs := newCgroupFiles(t)
	prog := startProgram(t, "exec sleep 600")
	w, got := watchFiles(t, fs, map[string]int{"main": prog.Process.Pid}, DefaultMemoryWarn)
	seen(t, w, prog.Process.Pid)

	death := Death{Pid: prog.Process.Pid, Program: "main", Command: []string{"sleep", "600"}, Signal: syscall.SIGKILL, Time: time.Now()}
	if w.Died(death) {
		t.Fatal("a SIGKILL with no OOM kill on the counter (kill -9 from outside) was taken for one")
	}
	fs.events("", 1)
	if w.Died(Death{Pid: 99, Program: "main", Signal: syscall.SIGKILL, SentByTend: true, Time: time.Now()}) {
		t.Fatal("a SIGKILL tend sent was taken for the OOM kill")
	}
	if !w.Died(death) {
		t.Fatal("the SIGKILL after the counter rose was not taken for the OOM kill")
	}
	ks := got.all()
	if len(ks) != 1 || ks[0].Victim == nil || ks[0].Victim.Program != "main" || ks[0].Victim.RSSBytes == 0 || ks[0].Victim.Member {
		t.Fatalf("kills named: %+v", ks)
	}
	k := ks[0]
	if k.LimitBytes != 64<<20 || k.PeakBytes != 50<<20 || k.Kills != 1 {
		t.Errorf("kill figures: %+v", k.OOMEvent)
	}
	if s := k.Summary(); !strings.Contains(s, "main (pid ") || !strings.Contains(s, "at the 64.0MiB memory limit; peak usage 50.0MiB, its last RSS") {
		t.Errorf("summary %q", s)
	}
	// One kill is named once: the watcher's event for it finds it named.
	if w.Died(death) {
		t.Error("one kill was named twice")
	}
	time.Sleep(OOMVictimWindow + 500*time.Millisecond)
	if n := len(got.all()); n != 1 {
		t.Errorf("%d kills named, want 1: %+v", n, got.all())
	}
}

// A process inside a program's group killed while its leader lives on is
// reaped by its parent, not by tend: it is named from the samples, as the
// program's process that vanished when the counter rose.
func TestAKillInsideAProgramsGroupIsNamedFromTheSamples(t *testing.T) {
	fs := newCgroupFiles(t)
	prog := startProgram(t, "sleep 600 & sleep 601 & wait")
	victim := childOf(t, prog.Process.Pid, "sleep")
	w, got := watchFiles(t, fs, map[string]int{"agent": prog.Process.Pid}, DefaultMemoryWarn)
	seen(t, w, victim)

	fs.events("", 1)
	syscall.Kill(victim, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for len(got.all()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	ks := got.all()
	if len(ks) != 1 || ks[0].Victim == nil {
		t.Fatalf("kills named: %+v", ks)
	}
	v := ks[0].Victim
	if v.Pid != victim || v.Program != "agent" || !v.Member || v.Command[0] != "sleep" {
		t.Errorf("victim %+v, want agent's sleep %d", v, victim)
	}
	if s := ks[0].Summary(); !strings.Contains(s, "agent's process sleep (pid ") {
		t.Errorf("summary %q", s)
	}
}

// A shell that exits after its child was killed (exit 137, not a SIGKILL
// of its own) takes its program down with the kill: the kill is named
// when tend reaps the shell, before the program's exit is decided on.
func TestDiedNamesTheChildAShellLostToTheKill(t *testing.T) {
	fs := newCgroupFiles(t)
	prog := startProgram(t, "sleep 600; exit 137")
	victim := childOf(t, prog.Process.Pid, "sleep")
	w, got := watchFiles(t, fs, map[string]int{"main": prog.Process.Pid}, DefaultMemoryWarn)
	seen(t, w, victim)
	fs.events("", 1)
	syscall.Kill(victim, syscall.SIGKILL)
	prog.Wait()
	if !w.Died(Death{Pid: prog.Process.Pid, Program: "main", Command: []string{"sh"}, Time: time.Now()}) {
		t.Fatal("the shell's exit after its child's kill was not tied to the kill")
	}
	if ks := got.all(); len(ks) != 1 || ks[0].Victim == nil || ks[0].Victim.Pid != victim || !ks[0].Victim.Member {
		t.Errorf("kills named: %+v", ks)
	}
}

// A kill tend cannot tie to any process it saw is still reported, once.
func TestAKillOfAnUnseenProcessIsReported(t *testing.T) {
	fs := newCgroupFiles(t)
	_, got := watchFiles(t, fs, map[string]int{}, DefaultMemoryWarn)
	time.Sleep(100 * time.Millisecond)
	fs.events("", 2)
	deadline := time.Now().Add(10 * time.Second)
	for len(got.all()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	ks := got.all()
	if len(ks) != 1 || ks[0].Victim != nil || ks[0].New != 2 {
		t.Fatalf("kills named: %+v", ks)
	}
	if s := ks[0].Summary(); !strings.Contains(s, "a process tend had not seen (2 processes)") {
		t.Errorf("summary %q", s)
	}
}

// Above the share for the hold time: one warning, naming the programs
// that hold the most.
func TestMemoryWatchWarnsOnceWithTheTopPrograms(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the warning's hold time")
	}
	fs := newCgroupFiles(t)
	prog := startProgram(t, "exec sleep 600")
	w, got := watchFiles(t, fs, map[string]int{"main": prog.Process.Pid}, DefaultMemoryWarn)
	seen(t, w, prog.Process.Pid)
	fs.write("memory.current", "64000000\n")
	deadline := time.Now().Add(15 * time.Second)
	for len(got.warnings()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	ws := got.warnings()
	if len(ws) != 1 {
		t.Fatalf("%d warnings, want 1: %+v", len(ws), ws)
	}
	if len(ws[0].Top) != 1 || ws[0].Top[0].Program != "main" || ws[0].Top[0].RSSBytes == 0 {
		t.Errorf("top programs %+v", ws[0].Top)
	}
	if s := ws[0].String(); !strings.Contains(s, "most held by main ") {
		t.Errorf("warning reads %q", s)
	}
	if m := w.Memory(); m.UsageBytes != 64000000 || m.LimitBytes != 64<<20 {
		t.Errorf("last reading %+v", m)
	}
}

// The readings a MemoryWatch makes while memory is short allocate
// nothing, in tend or in the kernel (files kept open), so that they never
// charge a cgroup at its limit.
func TestMemoryReadingsAllocateNothing(t *testing.T) {
	for _, v := range []int{1, 2} {
		fs := newCgroupFiles(t)
		if v == 2 {
			fs.v2("", "67108864", 40<<20, 50<<20, 1<<20, 3)
		} else {
			fs.v1(64<<20, 40<<20, 50<<20, 1<<20, 3)
		}
		cg := FindCgroup(fs.root)
		files := newOpenFiles()
		defer files.close()
		mem := newMemoryFiles(cg, files)
		m, err := mem.readMemory()
		want, _ := cg.ReadMemory()
		if err != nil || m != want {
			t.Fatalf("v%d: read %+v, %v; ReadMemory reads %+v", v, m, err, want)
		}
		if n := testing.AllocsPerRun(100, func() {
			mem.readMemory()
			mem.readKills()
			mem.readUsage()
		}); n != 0 {
			t.Errorf("v%d: %.0f allocations per reading, want none", v, n)
		}
		if len(files.files) == 0 {
			t.Errorf("v%d: no file kept open", v)
		}
	}
}

// Above 90 % of the limit the watch scans no processes (a scan allocates,
// and right after a kill anything charged may make the kernel kill tend):
// a process started there is not seen until the usage falls again.
func TestNoProcessScanNearTheLimit(t *testing.T) {
	fs := newCgroupFiles(t)
	start := filepath.Join(t.TempDir(), "start")
	prog := startProgram(t, "while [ ! -e "+start+" ]; do sleep 0.05; done; tail -f /dev/null & wait")
	w, _ := watchFiles(t, fs, map[string]int{"agent": prog.Process.Pid}, 0)
	seen(t, w, prog.Process.Pid)

	fs.v2("", "67108864", 61<<20, 61<<20, 0, 0)
	time.Sleep(500 * time.Millisecond)
	if err := os.WriteFile(start, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	child := childOf(t, prog.Process.Pid, "tail")
	// Two of the scans the watch makes every second below the line.
	time.Sleep(2*trackInterval + 500*time.Millisecond)
	if rss, _ := w.tracker.Last(child); rss != 0 {
		t.Fatalf("pid %d, started at 95%% of the limit, was sampled there", child)
	}
	fs.v2("", "67108864", 40<<20, 50<<20, 0, 0)
	seen(t, w, child)
}

// Short tells readers of /proc to keep still: at 90 % of the limit or
// more, and for a moment after each OOM kill, on both cgroup versions.
// It reads through the descriptors kept open and allocates nothing.
func TestShortNearTheLimitAndRightAfterAKill(t *testing.T) {
	for _, v := range []int{1, 2} {
		fs := newCgroupFiles(t)
		layout := func(usage int64, kills int) {
			if v == 2 {
				fs.v2("", "67108864", usage, 64<<20, 0, kills)
			} else {
				fs.v1(64<<20, usage, 64<<20, 0, kills)
			}
		}
		layout(40<<20, 0)
		w, err := NewMemoryWatch(FindCgroup(fs.root), MemoryWatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if w.Short() {
			t.Errorf("v%d: short at 40 MiB of 64", v)
		}
		layout(58<<20, 0)
		if !w.Short() {
			t.Errorf("v%d: not short at 58 MiB of 64 (90.6 %%)", v)
		}
		layout(40<<20, 0)
		if w.Short() {
			t.Errorf("v%d: still short back at 40 MiB", v)
		}
		layout(40<<20, 1)
		if !w.Short() {
			t.Errorf("v%d: not short right after an OOM kill", v)
		}
		time.Sleep(oomQuiet + 50*time.Millisecond)
		if w.Short() {
			t.Errorf("v%d: still short %s after the kill", v, oomQuiet+50*time.Millisecond)
		}
		if n := testing.AllocsPerRun(50, func() { w.Short() }); n != 0 {
			t.Errorf("v%d: Short allocates %.0f times", v, n)
		}
		w.files.close()
	}
}

// WaitQuiet holds work back for the moment after an OOM kill, and only
// then.
func TestWaitQuietWaitsOutTheMomentAfterAKill(t *testing.T) {
	fs := newCgroupFiles(t)
	fs.v2("", "67108864", 40<<20, 64<<20, 0, 0)
	w, err := NewMemoryWatch(FindCgroup(fs.root), MemoryWatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.files.close()
	began := time.Now()
	w.WaitQuiet(context.Background())
	if took := time.Since(began); took > 50*time.Millisecond {
		t.Errorf("WaitQuiet with no kill took %s", took)
	}
	fs.v2("", "67108864", 40<<20, 64<<20, 0, 1)
	began = time.Now()
	w.WaitQuiet(context.Background())
	if took := time.Since(began); took < oomQuiet-20*time.Millisecond {
		t.Errorf("WaitQuiet right after a kill returned after %s, before the %s moment was over", took, oomQuiet)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fs.v2("", "67108864", 40<<20, 64<<20, 0, 2)
	began = time.Now()
	w.WaitQuiet(ctx)
	if took := time.Since(began); took > 50*time.Millisecond {
		t.Errorf("WaitQuiet with its context done took %s", took)
	}
}

// Samples are a second apart near the limit, and further apart on a
// loaded machine: a child last seen alive longer than OOMVictimWindow
// before the kill, and found gone at the next sample after it, still died
// when the counter rose and is named.
func TestAChildSeenLongBeforeTheKillIsStillNamed(t *testing.T) {
	prog := startProgram(t, "sleep 600 & sleep 601 & wait")
	victim := childOf(t, prog.Process.Pid, "sleep")
	tr := NewTracker(func() map[string]int { return map[string]int{"agent": prog.Process.Pid} })
	kill := time.Now()
	tr.Sample(kill.Add(-3 * OOMVictimWindow / 2))
	if rss, _ := tr.Last(victim); rss == 0 {
		t.Fatalf("sleep %d not sampled", victim)
	}
	syscall.Kill(victim, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := procfs.ReadStat(victim); err != nil || st.RSS == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	tr.Sample(kill.Add(OOMVictimWindow))
	got := OOMVictims(OOMEvent{Time: kill, Kills: 1, New: 1}, tr.Vanished())
	if len(got) != 1 || got[0].Pid != victim || !got[0].Member {
		t.Fatalf("victims %+v, want agent's sleep %d", got, victim)
	}
	// A child found gone before the kill, whatever its last sighting,
	// is not the kill's.
	if got := OOMVictims(OOMEvent{Time: kill.Add(3 * OOMVictimWindow), Kills: 1, New: 1}, tr.Vanished()); len(got) != 0 {
		t.Errorf("victims of a later kill %+v, want none", got)
	}
}

// A start reads each cgroup file once: NewMemoryWatch reads the accounting
// and the counter, and the watch's first reading of the accounting comes
// an interval later, not the moment it runs.
func TestTheWatchReadsTheAccountingOnceAtItsStart(t *testing.T) {
	fs := newCgroupFiles(t)
	fs.v2("", "67108864", 40<<20, 50<<20, 0, 0)
	w, err := NewMemoryWatch(FindCgroup(fs.root), MemoryWatchOptions{Pids: func() map[string]int { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Memory().UsageBytes; got != 40<<20 {
		t.Fatalf("usage after NewMemoryWatch = %d, want %d", got, 40<<20)
	}
	fs.write("memory.current", "47185920\n")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	time.Sleep(100 * time.Millisecond)
	if got := w.Memory().UsageBytes; got != 40<<20 {
		t.Errorf("usage 0.1 s into Run = %d: the watch read the accounting again at once (want still %d)", got, 40<<20)
	}
	deadline := time.Now().Add(5 * time.Second)
	for w.Memory().UsageBytes != 47185920 {
		if time.Now().After(deadline) {
			t.Fatalf("usage never read again: %d", w.Memory().UsageBytes)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The files the watch keeps open are plain descriptors, outside Go's
// poller (which would make them non-blocking): registering a file that
// is always ready wakes the poller's thread for nothing.
func TestTheWatchsFilesStayOutOfGosPoller(t *testing.T) {
	fs := newCgroupFiles(t)
	fs.v2("", "67108864", 40<<20, 50<<20, 0, 0)
	w, err := NewMemoryWatch(FindCgroup(fs.root), MemoryWatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.files.close()
	w.files.mu.Lock()
	defer w.files.mu.Unlock()
	if len(w.files.files) < 4 {
		t.Fatalf("the watch holds %d files open, want the usage, limit, peak, stat and events", len(w.files.files))
	}
	for path, fd := range w.files.files {
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if fl&unix.O_NONBLOCK != 0 {
			t.Errorf("%s is non-blocking: it went through Go's poller", filepath.Base(path))
		}
		fdfl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if fdfl&unix.FD_CLOEXEC == 0 {
			t.Errorf("%s would be inherited by the programs", filepath.Base(path))
		}
	}
}

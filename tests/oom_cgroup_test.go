package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeCgroupV2 lays out, in a new directory, the memory files of a
// cgroup v2 as the kernel does (64 MiB limit, 40 MiB used, 60 MiB peak,
// no OOM kill yet) and returns it, for TEND_CGROUP_ROOT.
func fakeCgroupV2(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc\n",
		"memory.max":         "67108864\n",
		"memory.current":     "41943040\n",
		"memory.peak":        "62914560\n",
		"memory.stat":        "anon 37748736\nfile 4194304\nkernel 1048576\nactive_file 2097152\ninactive_file 2097152\nunevictable 0\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeOOMKills(t, dir, 0)
	return dir
}

// writeOOMKills writes memory.events with oom_kill at kills, in place, as
// the kernel updates it (which inotify reports).
func writeOOMKills(t *testing.T, dir string, kills int) {
	t.Helper()
	body := fmt.Sprintf("low 0\nhigh 0\nmax %d\noom %d\noom_kill %d\noom_group_kill 0\n", 3*kills, kills, kills)
	if err := os.WriteFile(filepath.Join(dir, "memory.events"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tendOOMKills returns the OOM kill events in tend's stderr.
func tendOOMKills(p *tendProcess) []tendEvent {
	var out []tendEvent
	for _, e := range tendEvents(p.Stderr()) {
		if e.str("event") == "OOM kill" {
			out = append(out, e)
		}
	}
	return out
}

// OOM kills as tend sees them in a cgroup v2, from files laid out as the
// kernel lays them out: the kernel raises memory.events' oom_kill, then
// sends the SIGKILL (this test does both). A program's own process is
// named when tend reaps it; a child inside a program's group, reaped by
// its parent, from tend's samples. Each is an error event, in the status,
// and runs TEND_ON_OOM with what it needs to know; a kill -9 from outside
// is none.
func TestOOMKillsInCgroupV2AreNamed(t *testing.T) {
	t.Parallel()
	cg := fakeCgroupV2(t)
	hookOut := filepath.Join(t.TempDir(), "oom-hook")
	hook := fmt.Sprintf(`sh -c 'echo "$TEND_OOM_PROGRAM $TEND_OOM_PID $TEND_OOM_LIMIT $TEND_OOM_PEAK $TEND_OOM_COMMAND" >> %s'`, hookOut)
	p := startTend(t, tendOptions{
		Args: []string{"--", "sleep", "600"},
		Env: []string{"TEND_CGROUP_ROOT=" + cg, "TEND_EVENT_FORMAT=json", "TEND_ON_OOM=" + hook,
			"TEND_AGENT_COMMAND=sleep 600",
			"TEND_WORKER_COMMAND=sh -c 'sleep 601; exec sleep 602'"},
	})
	st := waitStatus(t, p, 15*time.Second, "every program to run", func(st statusDoc) bool {
		return st.program(t, "agent").State == "RUNNING" && st.program(t, "worker").State == "RUNNING" && st.program(t, "main").Pid != 0
	})
	agent := st.program(t, "agent").Pid

	writeOOMKills(t, cg, 1)
	syscall.Kill(agent, syscall.SIGKILL)
	st = waitStatus(t, p, 15*time.Second, "agent to be restarted", func(st statusDoc) bool { return st.program(t, "agent").Restarts == 1 })
	a := st.program(t, "agent")
	if a.LastExit == nil || a.LastExit.Reason != "oom-killed" || a.LastExit.Code != 137 || a.OOMKills != 1 {
		t.Errorf("agent after its kill: %+v, last exit %+v", a, a.LastExit)
	}
	kills := tendOOMKills(p)
	if len(kills) != 1 || kills[0].str("program") != "agent" || kills[0].num("pid") != int64(agent) ||
		kills[0].str("level") != "error" || kills[0].num("limit_bytes") != 64<<20 || kills[0].num("peak_bytes") != 60<<20 {
		t.Fatalf("OOM kill events %v; want agent's, with the limit and peak\nstderr:\n%s", kills, p.Stderr())
	}

	// The worker's child: tend samples the programs' processes every
	// second, so it has seen it once three seconds have passed (two
	// were once not enough beside this package's JVMs and containers).
	var child int
	waitFor(t, 10*time.Second, "the worker's sleep 601", func() bool {
		for _, pid := range descendants(st.program(t, "worker").Pid) {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); string(b) == "sleep\x00601\x00" {
				child = pid
				return true
			}
		}
		return false
	})
	time.Sleep(3 * time.Second)
	writeOOMKills(t, cg, 2)
	syscall.Kill(child, syscall.SIGKILL)
	waitFor(t, 15*time.Second, "the second OOM kill event", func() bool { return len(tendOOMKills(p)) == 2 })
	k := tendOOMKills(p)[1]
	if k.str("program") != "worker" || k.num("pid") != int64(child) || k.str("command") != "sleep 601" ||
		!strings.Contains(k.str("summary"), fmt.Sprintf("worker's process sleep (pid %d)", child)) {
		t.Errorf("OOM kill event %v; want worker's sleep %d", k, child)
	}
	w := status(t, p).program(t, "worker")
	if w.OOMKills != 1 || w.Restarts != 0 || w.State != "RUNNING" {
		t.Errorf("worker after its child's kill: %+v", w)
	}

	// kill -9 from outside, with no rise of the counter.
	syscall.Kill(status(t, p).program(t, "agent").Pid, syscall.SIGKILL)
	st = waitStatus(t, p, 15*time.Second, "agent to be restarted again", func(st statusDoc) bool { return st.program(t, "agent").Restarts == 2 })
	if a := st.program(t, "agent"); a.LastExit.Reason != "" || a.OOMKills != 1 {
		t.Errorf("agent after kill -9: %+v, last exit %+v; want no OOM kill", a, a.LastExit)
	}

	want := []string{
		fmt.Sprintf("agent %d 67108864 62914560 sleep 600", agent),
		fmt.Sprintf("worker %d 67108864 62914560 sleep 601", child),
	}
	var got string
	waitFor(t, 10*time.Second, "the OOM hook's two runs", func() bool {
		b, _ := os.ReadFile(hookOut)
		got = string(b)
		return strings.Count(got, "\n") >= 2
	})
	if got != strings.Join(want, "\n")+"\n" {
		t.Errorf("TEND_ON_OOM saw:\n%swant:\n%s", got, strings.Join(want, "\n")+"\n")
	}
	if n := len(tendOOMKills(p)); n != 2 {
		t.Errorf("%d OOM kill events, want 2", n)
	}
	p.Signal(syscall.SIGTERM)
	p.Wait(15 * time.Second)
}

// A main program OOM-killed ends the container as its exit would, and
// TEND_ON_OOM still runs to its end before tend exits: its output is in
// tend's.
func TestOOMHookRunsWhenTheKillEndsTheContainer(t *testing.T) {
	t.Parallel()
	cg := fakeCgroupV2(t)
	p := startTend(t, tendOptions{
		Args: []string{"--", "sleep", "600"},
		Env: []string{"TEND_CGROUP_ROOT=" + cg, "TEND_LOG_FORMAT=prefix",
			`TEND_ON_OOM=sh -c 'sleep 1; echo "paging the owner of $TEND_OOM_PROGRAM"'`},
	})
	main := p.MainPID()
	// The memory watch samples once a second; the kill needs no sample.
	writeOOMKills(t, cg, 1)
	syscall.Kill(main, syscall.SIGKILL)
	if code := p.Wait(15 * time.Second); code != 137 {
		t.Errorf("tend exited %d, want main's 137\nstderr:\n%s", code, p.Stderr())
	}
	if !strings.Contains(p.Stdout(), "oom | paging the owner of main\n") {
		t.Errorf("the OOM hook's output is not in tend's:\nstdout:\n%s\nstderr:\n%s", p.Stdout(), p.Stderr())
	}
	if !strings.Contains(p.Stderr(), "\tERROR\ttend\tOOM kill\t") {
		t.Errorf("no OOM kill event at the default level:\n%s", p.Stderr())
	}
}

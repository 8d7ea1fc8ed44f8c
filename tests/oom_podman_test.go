package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The OOM tests run tend as PID 1 of a real container with a 64 MiB
// memory limit, where the kernel's OOM killer does the killing.
const oomLimit = 64 << 20

// memoryArgs are the `podman run` flags of a container with the limit,
// on an overlay of this machine's root (which holds tend, the helpers and
// the JDK).
func memoryArgs(env ...string) []string {
	args := append([]string{"--memory", "64m"}, podmanLimits...)
	for _, kv := range env {
		args = append(args, "-e", kv)
	}
	return append(args, "--rootfs", "/:O")
}

// runToEnd runs a container to its end and returns its exit code and
// what tend wrote.
func runToEnd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command("podman", append([]string{"--runtime", "runc", "run", "--rm"}, args...)...)
	// conmon leaves a file called "oom" in its working directory when
	// the kernel kills a process of the container.
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("podman run: %v\n%s", err, out)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// runMemoryContainer is runContainer from a directory of the test's own,
// where conmon may leave its "oom" file.
func runMemoryContainer(t *testing.T, name string, args ...string) {
	t.Helper()
	t.Cleanup(func() { podman("rm", "-f", "-t", "0", name) })
	cmd := exec.Command("podman", append([]string{"--runtime", "runc", "run", "-d", "--name", name}, args...)...)
	cmd.Dir = t.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("podman run: %v\n%s", err, out)
	}
}

// textEvents returns the fields of tend's events called msg, from its
// stderr in the default text format ("TIME\tLEVEL\ttend\tMSG\t{fields}").
func textEvents(t *testing.T, out, msg string) []tendEvent {
	t.Helper()
	var evs []tendEvent
	for _, line := range strings.Split(out, "\n") {
		_, rest, ok := strings.Cut(line, "\ttend\t"+msg+"\t")
		if !ok {
			continue
		}
		var e tendEvent
		if err := json.Unmarshal([]byte(rest), &e); err != nil {
			t.Fatalf("event %q: %v", line, err)
		}
		e["level"] = strings.Fields(line)[1]
		evs = append(evs, e)
	}
	return evs
}

// oneOOMKill returns the only OOM kill event in out.
func oneOOMKill(t *testing.T, out string) tendEvent {
	t.Helper()
	evs := textEvents(t, out, "OOM kill")
	if len(evs) != 1 {
		t.Fatalf("%d OOM kill events, want 1:\n%s", len(evs), out)
	}
	e := evs[0]
	if e.str("level") != "ERROR" || e.num("limit_bytes") != oomLimit || e.num("peak_bytes") < oomLimit*9/10 || e.str("advice") == "" {
		t.Errorf("OOM kill event %v: want an error with the 64MiB limit, the peak near it and advice", e)
	}
	return e
}

// tendExited checks that tend itself lived to the end and exited with
// code: a second OOM kill that takes tend right after its program's also
// ends the container with 137, but tend never says that it is exiting.
// Its "exiting" event is at the info level (TEND_EVENT_LEVEL=info).
func tendExited(t *testing.T, out string, code int64) {
	t.Helper()
	evs := textEvents(t, out, "exiting")
	if len(evs) != 1 || evs[0].num("code") != code {
		t.Errorf("tend did not say it was exiting with %d (was it killed too?): %v\n%s", code, evs, out)
	}
}

// The case users know as "the container exited 137 and nobody said
// why": tend names the program the kernel killed, at the default event
// level, and exits with its 137.
func TestOOMKilledMainIsNamedAndExits137(t *testing.T) {
	t.Parallel()
	requirePodman(t)
	code, out := runToEnd(t, append(memoryArgs(), tendPath(t), "--", "tail", "/dev/zero")...)
	if code != 137 {
		t.Errorf("the container exited %d, want 137\n%s", code, out)
	}
	e := oneOOMKill(t, out)
	if e.str("program") != "main" || e.str("command") != "tail /dev/zero" || e.num("pid") == 0 {
		t.Errorf("OOM kill event %v does not name main's tail", e)
	}
	if s := e.str("summary"); !strings.Contains(s, "main (pid ") || !strings.Contains(s, "at the 64.0MiB memory limit") {
		t.Errorf("summary %q", s)
	}
}

// A main program held after its OOM kill shows the kill as its last
// exit's reason in `tend status`; the container then exits 137.
func TestOOMKilledMainIsItsLastExitsReason(t *testing.T) {
	t.Parallel()
	requirePodman(t)
	name := uniqueName(t, "tend-oom-held-")
	runMemoryContainer(t, name, append(memoryArgs("TEND_MAIN_ON_EXIT=hold"), tendPath(t), "--", "tail", "/dev/zero")...)
	var st statusDoc
	waitFor(t, 60*time.Second, "main to be held after its kill", func() bool {
		out, err := podman("exec", name, tendPath(t), "status", "--json")
		if err != nil {
			if gone := containerGone(name); gone != "" {
				t.Fatalf("the container ended: %s", gone)
			}
			return false
		}
		st = statusDoc{}
		return json.Unmarshal([]byte(out), &st) == nil && st.Holding
	})
	m := st.program(t, "main")
	if m.LastExit == nil || m.LastExit.Code != 137 || m.LastExit.Reason != "oom-killed" || m.OOMKills != 1 {
		t.Errorf("main in tend status: %+v, last exit %+v; want code 137, oom-killed, one OOM kill", m, m.LastExit)
	}
	text := mustPodman(t, "exec", name, tendPath(t), "status")
	if !regexp.MustCompile(`main +EXITED .* 137 \(KILL\) oom-killed`).MatchString(text) {
		t.Errorf("tend status does not say main was OOM-killed:\n%s", text)
	}
	if code := stopContainer(t, name, 10*time.Second); code != 137 {
		t.Errorf("the container exited %d, want main's 137", code)
	}
	oneOOMKill(t, mustPodman(t, "logs", name))
}

// adminGet fetches path from tend's HTTP endpoints at addr.
func adminGet(t *testing.T, addr, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitAdminStatus polls /status until cond holds; the test fails when
// the container ends first.
func waitAdminStatus(t *testing.T, name, addr, what string, cond func(statusDoc) bool) statusDoc {
	t.Helper()
	var st statusDoc
	// At the pace of a monitoring scrape, not waitFor's 100 a second:
	// right after a kill the cgroup is still at its limit, and whatever
	// the kernel allocates for tend then (a connection accepted) can make
	// it kill again, picking tend (see resources.MemoryWatch.WaitQuiet).
	waitEvery(t, 60*time.Second, 200*time.Millisecond, what, func() bool {
		resp, err := http.Get("http://" + addr + "/status")
		if err != nil {
			if gone := containerGone(name); gone != "" {
				t.Fatalf("the container ended: %s", gone)
			}
			return false
		}
		defer resp.Body.Close()
		st = statusDoc{}
		return json.NewDecoder(resp.Body).Decode(&st) == nil && cond(st)
	})
	return st
}

// A side program the kernel kills while the main program lives is named,
// restarted by its policy, and counted in /metrics; the main program
// runs on untouched.
func TestOOMKilledSideProgramIsNamedAndRestarted(t *testing.T) {
	t.Parallel()
	requirePodman(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	name := uniqueName(t, "tend-oom-side-")
	hog := helperPath(t, "memhog") + " -once /tmp/" + name + "-grown"
	args := append([]string{"--network", "host"}, memoryArgs("TEND_HTTP_ADDR="+addr, "TEND_HOG_COMMAND="+hog)...)
	runMemoryContainer(t, name, append(args, tendPath(t), "--", "sleep", "600")...)
	before := waitAdminStatus(t, name, addr, "main to run", func(st statusDoc) bool { return st.program(t, "main").Pid != 0 })
	st := waitAdminStatus(t, name, addr, "hog to be killed and run again", func(st statusDoc) bool {
		h := st.program(t, "hog")
		return h.Restarts >= 1 && h.State == "RUNNING"
	})
	h := st.program(t, "hog")
	if h.LastExit == nil || h.LastExit.Code != 137 || h.LastExit.Reason != "oom-killed" || h.OOMKills != 1 {
		t.Errorf("hog: %+v, last exit %+v; want oom-killed once", h, h.LastExit)
	}
	if m := st.program(t, "main"); m.Pid != before.program(t, "main").Pid || m.Restarts != 0 || m.State != "RUNNING" {
		t.Errorf("main: %+v; want it running on, untouched", m)
	}
	metrics := adminGet(t, addr, "/metrics")
	for _, want := range []string{`tend_oom_kills_total{program="hog"} 1`, `tend_oom_kills_total{program="main"} 0`, "tend_memory_limit_bytes 6.7108864e+07"} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	e := oneOOMKill(t, mustPodman(t, "logs", name))
	if e.str("program") != "hog" || !strings.HasPrefix(e.str("command"), helperPath(t, "memhog")) || e.num("rss_bytes") == 0 {
		t.Errorf("OOM kill event %v does not name hog with its RSS", e)
	}
}

// A process inside a program's group, killed while the program's own
// process lives on, is reaped by its parent, not by tend: it is named
// all the same, as the program's process, with its PID.
func TestOOMKilledChildInsideAProgramsGroupIsNamed(t *testing.T) {
	t.Parallel()
	requirePodman(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	name := uniqueName(t, "tend-oom-child-")
	args := append([]string{"--network", "host"}, memoryArgs("TEND_HTTP_ADDR="+addr, "TEND_AGENT_COMMAND="+helperPath(t, "memhog")+" -child")...)
	runMemoryContainer(t, name, append(args, tendPath(t), "--", "sleep", "600")...)
	st := waitAdminStatus(t, name, addr, "a kill in agent's group", func(st statusDoc) bool { return st.program(t, "agent").OOMKills == 1 })
	if a := st.program(t, "agent"); a.Restarts != 0 || a.State != "RUNNING" || a.LastExit != nil {
		t.Errorf("agent: %+v; want its own process running on", a)
	}
	logs := mustPodman(t, "logs", name)
	m := regexp.MustCompile(`memhog child (\d+) started`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("agent's child never started:\n%s", logs)
	}
	child, _ := strconv.Atoi(m[1])
	if !strings.Contains(logs, fmt.Sprintf("memhog child %d ended: signal: killed", child)) {
		t.Errorf("agent does not say its child was killed:\n%s", logs)
	}
	e := oneOOMKill(t, logs)
	if e.str("program") != "agent" || e.num("pid") != int64(child) || e.num("rss_bytes") == 0 {
		t.Errorf("OOM kill event %v; want agent's child %d with its RSS", e, child)
	}
	if s := e.str("summary"); !strings.Contains(s, fmt.Sprintf("agent's process memhog (pid %d)", child)) {
		t.Errorf("summary %q", s)
	}
}

// A JVM whose -Xmx is above the container's limit is killed by the
// kernel before it ever throws OutOfMemoryError: the event names the
// heap it was allowed against the limit.
func TestOOMKilledJVMNamesItsHeapAgainstTheLimit(t *testing.T) {
	t.Parallel()
	requirePodman(t)
	requireJava(t)
	classes := compileJava(t, "tests/testdata/java/HeapHog.java")
	// The info level shows that tend lived on to exit: a JVM's kill is
	// where a second kill once took tend.
	args := append(append(memoryArgs("TEND_EVENT_LEVEL=info"), tendPath(t), "--", "java"), jvmFlags...)
	code, out := runToEnd(t, append(args, "-Xmx256m", "-cp", classes, "HeapHog")...)
	if code != 137 {
		t.Errorf("the container exited %d, want 137\n%s", code, out)
	}
	tendExited(t, out, 137)
	if !strings.Contains(out, "HeapHog growing") {
		t.Fatalf("the JVM did not start:\n%s", out)
	}
	e := oneOOMKill(t, out)
	if e.str("program") != "main" || e.num("java_max_heap_bytes") != 256<<20 || e.str("java_heap_from") != "-Xmx256m" {
		t.Errorf("OOM kill event %v does not name the JVM's heap", e)
	}
	if a := e.str("advice"); !strings.Contains(a, "heap up to 256.0MiB (-Xmx256m)") || !strings.Contains(a, "64.0MiB limit") {
		t.Errorf("advice %q does not set the heap against the limit", a)
	}
}

// A program that grows to 95 % of the limit and holds there gets one
// warning, with the program named, and one run of the pressure hook.
func TestMemoryWarningOncePerEpisodeWithOneHookRun(t *testing.T) {
	t.Parallel()
	requirePodman(t)
	name := uniqueName(t, "tend-memwarn-")
	hook := `sh -c 'echo pressure hook ran: $TEND_MEMORY_TOP of $TEND_MEMORY_LIMIT'`
	runMemoryContainer(t, name, append(memoryArgs("TEND_ON_MEMORY_PRESSURE="+hook), tendPath(t), "--", helperPath(t, "memhog"), "-hold-at", "0.95")...)
	var logs string
	waitFor(t, 60*time.Second, "the memory warning", func() bool {
		logs, _ = podman("logs", name)
		if gone := containerGone(name); gone != "" {
			t.Fatalf("the container ended: %s", gone)
		}
		return strings.Contains(logs, "pressure hook ran")
	})
	// Two more holds' worth of time at 95 %: still one episode.
	time.Sleep(7 * time.Second)
	logs = mustPodman(t, "logs", name)
	if !regexp.MustCompile(`memhog \d+ holding`).MatchString(logs) {
		t.Fatalf("memhog never held:\n%s", logs)
	}
	warnings := textEvents(t, logs, "memory warning: the OOM killer is near")
	if len(warnings) != 1 {
		t.Fatalf("%d memory warnings, want 1:\n%s", len(warnings), logs)
	}
	w := warnings[0]
	if w.str("level") != "WARN" || w.num("limit_bytes") != oomLimit || w.num("working_set_bytes") < oomLimit*9/10 ||
		!strings.Contains(w.str("summary"), "most held by main ") {
		t.Errorf("memory warning %v", w)
	}
	if n := strings.Count(logs, "pressure hook ran: main="); n != 1 {
		t.Errorf("the pressure hook ran %d times naming main, want once:\n%s", n, logs)
	}
	if n := len(textEvents(t, logs, "OOM kill")); n != 0 {
		t.Errorf("%d OOM kills at 95 %%:\n%s", n, logs)
	}
}

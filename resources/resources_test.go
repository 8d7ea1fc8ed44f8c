package resources

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestReadUsageOfSelf(t *testing.T) {
	u := ReadUsage(os.Getpid())
	if u == nil || u.RSSBytes < 1<<20 || u.OpenFiles < 3 {
		t.Fatalf("usage of self = %+v", u)
	}
	if ReadUsage(1<<22+12345) != nil {
		t.Error("usage of a missing process is not nil")
	}
}

// schedstat reads /proc/PID/schedstat: the time the process has run on
// a CPU and the time it has waited, runnable, for one.
func schedstat(t *testing.T, pid int) (run, wait time.Duration) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	if err != nil {
		t.Skipf("this test needs /proc/PID/schedstat (CONFIG_SCHED_INFO): %v", err)
	}
	var r, w int64
	if _, err := fmt.Sscan(string(b), &r, &w); err != nil {
		t.Fatalf("/proc/%d/schedstat %q: %v", pid, b, err)
	}
	return time.Duration(r), time.Duration(w)
}

// A program that spins is CPU-bound: its samples show the CPU it got, and
// the profile calls it cpu-bound against the CPU that was there for it.
// On a busy machine that is less than a core, so the test measures what
// the program got (the kernel's own account, /proc/PID/schedstat) and
// checks that it wanted more all along (it was never off the run queue).
func TestSamplerSeesBusyProgramAsCPUBound(t *testing.T) {
	if testing.Short() {
		t.Skip("samples for over a second")
	}
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var available float64
	s := NewSampler(time.Second, func() Limits { return Limits{CPUs: available} }, func() map[string]int { return map[string]int{"spin": cmd.Process.Pid} })
	s.Sample(time.Now())
	run0, wait0 := schedstat(t, cmd.Process.Pid)
	begin := time.Now()
	for range 3 {
		time.Sleep(300 * time.Millisecond)
		s.Sample(time.Now())
	}
	run1, wait1 := schedstat(t, cmd.Process.Pid)
	wall := time.Since(begin)
	got := float64(run1-run0) / float64(wall)
	wanted := float64(run1-run0+wait1-wait0) / float64(wall)
	if wanted < 0.9 {
		t.Fatalf("the spinning shell was runnable for %.2f of the time, not all of it: not a busy program", wanted)
	}
	available = got

	p := s.Profile()
	if len(p.Programs) != 1 || p.Programs[0].Samples != 3 {
		t.Fatalf("profile programs = %+v", p.Programs)
	}
	// /proc counts CPU time in 10 ms ticks: 0.05 cores of slack for three
	// 300 ms samples, plus a fifth for the sampler's and this test's reads
	// not being at the same instants.
	pp := p.Programs[0]
	if math.Abs(pp.CPUAvg-got) > 0.05+0.2*got {
		t.Errorf("average CPU of the spinning shell = %.2f cores; it got %.2f", pp.CPUAvg, got)
	}
	if pp.CPUP95 < pp.CPUAvg {
		t.Errorf("p95 CPU %.2f below the average %.2f", pp.CPUP95, pp.CPUAvg)
	}
	if p.Kind != "cpu-bound" {
		t.Errorf("kind = %s (%s), want cpu-bound (it got %.2f cores and wanted more)", p.Kind, p.Why, got)
	}
}

func TestClassifyAndRecommend(t *testing.T) {
	kind, _ := classify(Limits{MemoryBytes: 100 << 20}, 0.1, 95<<20, 0)
	if kind != "memory-bound" {
		t.Errorf("kind = %s, want memory-bound", kind)
	}
	kind, _ = classify(Limits{}, 0.05, 10<<20, 50<<20)
	if kind != "io-bound" {
		t.Errorf("kind = %s, want io-bound", kind)
	}
	kind, _ = classify(Limits{CPUs: 2}, 0.2, 10<<20, 0)
	if kind != "light" {
		t.Errorf("kind = %s, want light", kind)
	}
	r := recommend(Limits{}, 0.42, 0.9, 300<<20, time.Hour)
	if r.CPURequest != "450m" || r.MemoryRequest != "384Mi" || r.MemoryLimit != "384Mi" || r.CPULimit != "1800m" {
		t.Errorf("recommendation = %+v", r)
	}
}

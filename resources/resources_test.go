package resources

import (
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

func TestSamplerSeesBusyProgramAsCPUBound(t *testing.T) {
	if testing.Short() {
		t.Skip("samples for over a second")
	}
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	s := NewSampler(time.Second, func() Limits { return Limits{CPUs: 1} }, func() map[string]int { return map[string]int{"spin": cmd.Process.Pid} })
	start := time.Now()
	for i := 0; i <= 3; i++ {
		time.Sleep(300 * time.Millisecond)
		s.Sample(start.Add(time.Duration(i) * 300 * time.Millisecond))
	}
	p := s.Profile()
	if len(p.Programs) != 1 || p.Programs[0].Samples != 3 {
		t.Fatalf("profile programs = %+v", p.Programs)
	}
	if p.Programs[0].CPUP95 < 0.5 {
		t.Errorf("p95 CPU of a spinning shell = %.2f cores, want near 1", p.Programs[0].CPUP95)
	}
	if p.Kind != "cpu-bound" {
		t.Errorf("kind = %s (%s), want cpu-bound", p.Kind, p.Why)
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

package resources

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReadLimitsV1ReadsQuotaAndMemory(t *testing.T) {
	root := t.TempDir()
	write := func(rel, v string) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("memory/memory.limit_in_bytes", "314572800\n")
	write("cpu/cpu.cfs_quota_us", "150000\n")
	write("cpu/cpu.cfs_period_us", "100000\n")
	l := ReadLimits(root)
	if l.MemoryBytes != 300<<20 {
		t.Errorf("memory = %d, want %d", l.MemoryBytes, 300<<20)
	}
	if l.CPUs != 1.5 {
		t.Errorf("cpus = %v, want 1.5", l.CPUs)
	}
}

func TestReadLimitsV1UnlimitedIsZero(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "memory"), 0o755)
	os.WriteFile(filepath.Join(root, "memory/memory.limit_in_bytes"), []byte("9223372036854771712\n"), 0o644)
	os.MkdirAll(filepath.Join(root, "cpu"), 0o755)
	os.WriteFile(filepath.Join(root, "cpu/cpu.cfs_quota_us"), []byte("-1\n"), 0o644)
	os.WriteFile(filepath.Join(root, "cpu/cpu.cfs_period_us"), []byte("100000\n"), 0o644)
	l := ReadLimits(root)
	if l.MemoryBytes != 0 || l.CPUs != 0 {
		t.Errorf("limits = %+v, want none", l)
	}
	if l.HostCPUs < 1 || l.HostMemoryBytes < 1<<20 {
		t.Errorf("host figures missing: %+v", l)
	}
}

func TestJavaOptionsSizeHeapFromLimit(t *testing.T) {
	opts := strings.Join(JavaOptions(Limits{MemoryBytes: 1 << 30, CPUs: 1.5}, ""), " ")
	for _, want := range []string{"-XX:MaxRAMPercentage=75.0", "-XX:ActiveProcessorCount=2", "-XX:+ExitOnOutOfMemoryError"} {
		if !strings.Contains(opts, want) {
			t.Errorf("options %q lack %s", opts, want)
		}
	}
	small := strings.Join(JavaOptions(Limits{MemoryBytes: 256 << 20}, ""), " ")
	if !strings.Contains(small, "MaxRAMPercentage=50.0") {
		t.Errorf("small container options %q: want 50%% heap", small)
	}
}

func TestJavaOptionsKeepUserHeap(t *testing.T) {
	opts := strings.Join(JavaOptions(Limits{MemoryBytes: 1 << 30}, "-Xmx200m"), " ")
	if strings.Contains(opts, "MaxRAMPercentage") {
		t.Errorf("options %q override the user's -Xmx", opts)
	}
}

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

package resources

import (
	"os"
	"path/filepath"
	"testing"
)

// The OOM watcher reads the kill counter twice a second on cgroup v1 and
// the memory warning reads the whole accounting once a second; these
// measure both against the baseline of reading the counter file raw, on
// this machine's own cgroup: `go test -bench Cgroup ./resources`.

func benchCgroup(b *testing.B) Cgroup {
	c := FindCgroup(CgroupRoot)
	if _, err := c.ReadMemory(); err != nil {
		b.Skip("no memory cgroup here:", err)
	}
	return c
}

func BenchmarkCgroupReadCounterFileBaseline(b *testing.B) {
	c := benchCgroup(b)
	name := "memory.events"
	if c.Version == 1 {
		name = "memory.oom_control"
	}
	path := filepath.Join(c.MemoryDir, name)
	for b.Loop() {
		if _, err := os.ReadFile(path); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCgroupReadOOMKills(b *testing.B) {
	c := benchCgroup(b)
	for b.Loop() {
		if _, err := c.readOOMKills(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCgroupReadMemory(b *testing.B) {
	c := benchCgroup(b)
	for b.Loop() {
		if _, err := c.ReadMemory(); err != nil {
			b.Fatal(err)
		}
	}
}

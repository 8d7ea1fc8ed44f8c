package resources

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// cgroupFiles writes files into a directory laid out as the kernel lays
// out a cgroup filesystem.
type cgroupFiles struct {
	t    testing.TB
	root string
}

func newCgroupFiles(t testing.TB) cgroupFiles {
	return cgroupFiles{t: t, root: t.TempDir()}
}

// write writes content to rel in place (truncate and write, as the kernel
// updates a file, so an inotify watch on it stays valid).
func (c cgroupFiles) write(rel, content string) {
	c.t.Helper()
	p := filepath.Join(c.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// v2 lays out a cgroup v2 memory controller in dir (relative to root):
// memory.max ("max" or a number), memory.current, memory.peak, memory.stat
// and memory.events with every line the kernel writes.
func (c cgroupFiles) v2(dir, max string, current, peak, inactiveFile int64, oomKills int) {
	c.t.Helper()
	if _, err := os.Stat(filepath.Join(c.root, "cgroup.controllers")); err != nil {
		c.write("cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
	}
	c.write(filepath.Join(dir, "cgroup.controllers"), "cpu io memory pids\n")
	c.write(filepath.Join(dir, "memory.max"), max+"\n")
	c.write(filepath.Join(dir, "memory.current"), strconv.FormatInt(current, 10)+"\n")
	c.write(filepath.Join(dir, "memory.peak"), strconv.FormatInt(peak, 10)+"\n")
	c.write(filepath.Join(dir, "memory.stat"), "anon 1048576\nfile 4194304\nkernel 131072\nactive_anon 0\ninactive_anon 1048576\nactive_file 1048576\ninactive_file "+strconv.FormatInt(inactiveFile, 10)+"\nunevictable 0\n")
	c.events(dir, oomKills)
}

// events writes a cgroup v2 memory.events whose oom_kill is kills.
func (c cgroupFiles) events(dir string, kills int) {
	c.t.Helper()
	n := strconv.Itoa(kills)
	c.write(filepath.Join(dir, "memory.events"), "low 0\nhigh 0\nmax 12\noom "+n+"\noom_kill "+n+"\noom_group_kill 0\n")
}

// v1 lays out a cgroup v1 memory hierarchy at root/memory.
func (c cgroupFiles) v1(limit, usage, maxUsage, inactiveFile int64, oomKills int) {
	c.t.Helper()
	c.write("memory/memory.limit_in_bytes", strconv.FormatInt(limit, 10)+"\n")
	c.write("memory/memory.usage_in_bytes", strconv.FormatInt(usage, 10)+"\n")
	c.write("memory/memory.max_usage_in_bytes", strconv.FormatInt(maxUsage, 10)+"\n")
	c.write("memory/memory.stat", "cache 8388608\nrss 1048576\nhierarchical_memory_limit "+strconv.FormatInt(limit, 10)+"\ntotal_cache 8388608\ntotal_rss 1048576\ntotal_inactive_file "+strconv.FormatInt(inactiveFile, 10)+"\ntotal_active_file 0\n")
	c.oomControl(oomKills)
}

// oomControl writes a cgroup v1 memory.oom_control whose oom_kill is kills.
func (c cgroupFiles) oomControl(kills int) {
	c.t.Helper()
	c.write("memory/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill "+strconv.Itoa(kills)+"\n")
}

func TestReadLimitsV1ReadsQuotaAndMemory(t *testing.T) {
	fs := newCgroupFiles(t)
	fs.write("memory/memory.limit_in_bytes", "314572800\n")
	fs.write("cpu/cpu.cfs_quota_us", "150000\n")
	fs.write("cpu/cpu.cfs_period_us", "100000\n")
	l := ReadLimits(fs.root)
	if l.MemoryBytes != 300<<20 {
		t.Errorf("memory = %d, want %d", l.MemoryBytes, 300<<20)
	}
	if l.CPUs != 1.5 {
		t.Errorf("cpus = %v, want 1.5", l.CPUs)
	}
	if l.Source != "cgroup v1" {
		t.Errorf("source = %q, want cgroup v1", l.Source)
	}
}

func TestReadLimitsV1UnlimitedIsZero(t *testing.T) {
	fs := newCgroupFiles(t)
	fs.write("memory/memory.limit_in_bytes", "9223372036854771712\n")
	fs.write("cpu/cpu.cfs_quota_us", "-1\n")
	fs.write("cpu/cpu.cfs_period_us", "100000\n")
	l := ReadLimits(fs.root)
	if l.MemoryBytes != 0 || l.CPUs != 0 {
		t.Errorf("limits = %+v, want none", l)
	}
	if l.HostCPUs < 1 || l.HostMemoryBytes < 1<<20 {
		t.Errorf("host figures missing: %+v", l)
	}
}

func TestReadLimitsV1TakesTheHierarchicalLimit(t *testing.T) {
	fs := newCgroupFiles(t)
	fs.v1(256<<20, 10<<20, 20<<20, 0, 0)
	// The container's own limit is unset; its parent (a pod) has one.
	fs.write("memory/memory.limit_in_bytes", "9223372036854771712\n")
	if l := ReadLimits(fs.root); l.MemoryBytes != 256<<20 {
		t.Errorf("memory = %d, want the parent's %d", l.MemoryBytes, 256<<20)
	}
}

// Pure cgroup v2 with no limit set was reported as cgroup v1.
func TestReadLimitsV2WithoutLimitsSaysV2(t *testing.T) {
	fs := newCgroupFiles(t)
	fs.v2("", "max", 10<<20, 12<<20, 0, 0)
	fs.write("cpu.max", "max 100000\n")
	l := ReadLimits(fs.root)
	if l.Source != "cgroup v2" {
		t.Errorf("source = %q, want cgroup v2", l.Source)
	}
	if l.MemoryBytes != 0 || l.CPUs != 0 {
		t.Errorf("limits = %+v, want none", l)
	}
}

func TestReadLimitsV2ReadsMemoryAndQuota(t *testing.T) {
	fs := newCgroupFiles(t)
	fs.v2("", "536870912", 10<<20, 12<<20, 0, 0)
	fs.write("cpu.max", "250000 100000\n")
	l := ReadLimits(fs.root)
	if l.Source != "cgroup v2" || l.MemoryBytes != 512<<20 || l.CPUs != 2.5 {
		t.Errorf("limits = %+v, want cgroup v2, 512MiB, 2.5 CPUs", l)
	}
}

func TestReadLimitsWithNoCgroupFilesystemSaysNone(t *testing.T) {
	l := ReadLimits(t.TempDir())
	if l.Source != "none" || l.MemoryBytes != 0 {
		t.Errorf("limits = %+v, want none", l)
	}
}

func TestFindCgroupNestedV2TakesTheLowestLimitOfItsAncestors(t *testing.T) {
	fs := newCgroupFiles(t)
	fs.v2("kubepods/pod1", "268435456", 0, 0, 0, 0)
	fs.v2("kubepods/pod1/ctr", "max", 10<<20, 12<<20, 0, 0)
	c := findCgroup(fs.root, []byte("0::/kubepods/pod1/ctr\n"), mountinfo(""))
	if c.Version != 2 || c.MemoryDir != filepath.Join(fs.root, "kubepods/pod1/ctr") {
		t.Fatalf("cgroup = %+v", c)
	}
	if l := c.Limits(); l.MemoryBytes != 256<<20 {
		t.Errorf("memory = %d, want the pod's %d", l.MemoryBytes, 256<<20)
	}
}

func TestFindCgroupV1InAContainerUsesTheMountsRoot(t *testing.T) {
	fs := newCgroupFiles(t)
	fs.v1(64<<20, 1<<20, 2<<20, 0, 0)
	fs.write("cpu/cpu.cfs_quota_us", "50000\n")
	fs.write("cpu/cpu.cfs_period_us", "100000\n")
	// What Podman shows on a hybrid machine: the container's cgroup is
	// bind-mounted at the hierarchy's mount point.
	self := "4:memory:/libpod_parent/libpod-6a5d\n1:cpu:/libpod_parent/libpod-6a5d\n0::/libpod_parent/libpod-6a5d\n"
	mounts := "91 87 0:31 /libpod_parent/libpod-6a5d " + fs.root + "/memory ro,nosuid - cgroup cgroup rw,memory\n" +
		"88 87 0:28 /libpod_parent/libpod-6a5d " + fs.root + "/cpu ro,nosuid - cgroup cgroup rw,cpu\n"
	c := findCgroup(fs.root, []byte(self), mountinfo(mounts))
	if c.Version != 1 || c.MemoryDir != filepath.Join(fs.root, "memory") || c.CPUDir != filepath.Join(fs.root, "cpu") {
		t.Fatalf("cgroup = %+v", c)
	}
	if l := c.Limits(); l.MemoryBytes != 64<<20 || l.CPUs != 0.5 {
		t.Errorf("limits = %+v, want 64MiB and 0.5 CPUs", l)
	}
}

// mountinfo returns a reader of /proc/self/mountinfo that gives s.
func mountinfo(s string) func() []byte {
	return func() []byte { return []byte(s) }
}

// In a container with a cgroup namespace, /proc/self/cgroup gives "/": the
// cgroup is the mount point, and mountinfo (long with many mounts) is not
// read, on v2 and on v1.
func TestFindCgroupAtTheNamespacesRootDoesNotReadMountinfo(t *testing.T) {
	unread := func() []byte {
		t.Error("mountinfo read for a cgroup at /")
		return nil
	}
	v2 := newCgroupFiles(t)
	v2.v2("", "104857600", 0, 0, 0, 0)
	if c := findCgroup(v2.root, []byte("0::/\n"), unread); c.Version != 2 || c.MemoryDir != v2.root {
		t.Errorf("v2: cgroup = %+v, want the mount %s", c, v2.root)
	}
	v1 := newCgroupFiles(t)
	v1.v1(64<<20, 0, 0, 0, 0)
	self := "9:name=systemd:/\n4:memory:/\n1:cpu,cpuacct:/\n0::/\n"
	c := findCgroup(v1.root, []byte(self), unread)
	if c.Version != 1 || c.MemoryDir != filepath.Join(v1.root, "memory") || c.CPUDir != filepath.Join(v1.root, "cpu") {
		t.Errorf("v1: cgroup = %+v", c)
	}
}

func TestFindCgroupV1OnTheHostFollowsProcSelfCgroup(t *testing.T) {
	fs := newCgroupFiles(t)
	fs.write("memory/system.slice/app.service/memory.limit_in_bytes", "104857600\n")
	fs.write("memory/memory.limit_in_bytes", "9223372036854771712\n")
	fs.write("unified/cgroup.controllers", "")
	mounts := "30 25 0:26 / " + fs.root + "/memory rw - cgroup cgroup rw,memory\n"
	c := findCgroup(fs.root, []byte("4:memory:/system.slice/app.service\n0::/system.slice/app.service\n"), mountinfo(mounts))
	if c.Version != 1 || c.MemoryDir != filepath.Join(fs.root, "memory/system.slice/app.service") {
		t.Fatalf("cgroup = %+v", c)
	}
	if l := c.Limits(); l.MemoryBytes != 100<<20 {
		t.Errorf("memory = %d, want %d", l.MemoryBytes, 100<<20)
	}
}

// On a host the whole hierarchy is mounted and tend's cgroup is found at
// its path under the mount, without mountinfo: on a machine with many
// mounts that file was most of the memory watch's set-up at every start.
func TestFindCgroupOnTheHostDoesNotReadMountinfo(t *testing.T) {
	unread := func() []byte {
		t.Error("mountinfo read for a cgroup found under the mount")
		return nil
	}
	fs := newCgroupFiles(t)
	fs.write("memory/system.slice/app.service/memory.limit_in_bytes", "104857600\n")
	fs.write("cpu/system.slice/app.service/cpu.cfs_quota_us", "50000\n")
	fs.write("memory/memory.limit_in_bytes", "9223372036854771712\n")
	self := "4:memory:/system.slice/app.service\n3:cpu,cpuacct:/system.slice/app.service\n0::/system.slice/app.service\n"
	c := findCgroup(fs.root, []byte(self), unread)
	if c.Version != 1 || c.MemoryDir != filepath.Join(fs.root, "memory/system.slice/app.service") ||
		c.CPUDir != filepath.Join(fs.root, "cpu/system.slice/app.service") {
		t.Errorf("cgroup = %+v", c)
	}
	v2 := newCgroupFiles(t)
	v2.v2("system.slice/app.service", "104857600", 0, 0, 0, 0)
	if c := findCgroup(v2.root, []byte("0::/system.slice/app.service\n"), unread); c.Version != 2 || c.MemoryDir != filepath.Join(v2.root, "system.slice/app.service") {
		t.Errorf("v2: cgroup = %+v", c)
	}
}

func TestReadMemoryV2CountsTheWorkingSet(t *testing.T) {
	fs := newCgroupFiles(t)
	fs.v2("", "104857600", 80<<20, 90<<20, 30<<20, 2)
	m, err := FindCgroup(fs.root).ReadMemory()
	if err != nil {
		t.Fatal(err)
	}
	want := Memory{LimitBytes: 100 << 20, UsageBytes: 80 << 20, WorkingSetBytes: 50 << 20, PeakBytes: 90 << 20, OOMKills: 2}
	if m != want {
		t.Errorf("memory = %+v, want %+v", m, want)
	}
}

func TestReadMemoryV1CountsTheWorkingSet(t *testing.T) {
	fs := newCgroupFiles(t)
	fs.v1(100<<20, 80<<20, 95<<20, 20<<20, 3)
	m, err := FindCgroup(fs.root).ReadMemory()
	if err != nil {
		t.Fatal(err)
	}
	want := Memory{LimitBytes: 100 << 20, UsageBytes: 80 << 20, WorkingSetBytes: 60 << 20, PeakBytes: 95 << 20, OOMKills: 3}
	if m != want {
		t.Errorf("memory = %+v, want %+v", m, want)
	}
}

func TestReadMemoryWithoutAMemoryControllerSaysSo(t *testing.T) {
	fs := newCgroupFiles(t)
	fs.write("cgroup.controllers", "cpu io\n")
	_, err := FindCgroup(fs.root).ReadMemory()
	if err == nil {
		t.Fatal("no error reading a cgroup without memory files")
	}
	if !errors.Is(err, ErrNoMemoryController) {
		t.Errorf("error = %v, want ErrNoMemoryController", err)
	}
}

// The machine's memory, which a JVM without a limit sizes its heap
// against, is MemTotal of /proc/meminfo, read without that file.
func TestHostMemoryIsMemTotal(t *testing.T) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Skipf("no /proc/meminfo: %v", err)
	}
	var kb int64
	if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err != nil {
		t.Fatalf("/proc/meminfo: %v", err)
	}
	if got := hostMemory(); got != kb<<10 {
		t.Errorf("hostMemory() = %d, want MemTotal %d", got, kb<<10)
	}
}

package procfs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseStatReadsRelationsCPUAndRSSPastAnOddCommandName(t *testing.T) {
	// A command name with spaces and parentheses, as a process may set.
	line := "4242 (my (odd) prog) S 1 4242 4240 0 -1 4194560 100 0 0 0 " +
		"250 75 0 0 20 0 1 0 12345 1000000 321 18446744073709551615\n"
	st, err := ParseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := Stat{PID: 4242, PPID: 1, PGRP: 4242, Session: 4240, UTime: 250, STime: 75, RSS: 321}
	if st != want {
		t.Fatalf("got %+v, want %+v", st, want)
	}
	for _, bad := range []string{"", "12 noparens S 1 2 3", "12 (x) S 1", "x (y) S 1 2 3"} {
		if _, err := ParseStat([]byte(bad)); err == nil {
			t.Errorf("ParseStat(%q) accepted a malformed line", bad)
		}
	}
}

func TestReadStatOfThisProcess(t *testing.T) {
	st, err := ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != os.Getpid() || st.PPID != os.Getppid() || st.PGRP != syscall.Getpgrp() || st.RSS <= 0 {
		t.Fatalf("stat of this process: %+v", st)
	}
}

func TestMappedFindsAFileThisProcessMaps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mapped.dat")
	if err := os.WriteFile(path, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if Mapped([]int{os.Getpid()})[IDOf(&st)] {
		t.Fatal("reported as mapped before mmap")
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, 4096, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	if !Mapped([]int{os.Getpid()})[IDOf(&st)] {
		t.Fatal("a file this process maps is not reported as mapped")
	}
}

func TestParseMapsLineReadsTheDeviceAndInodeOfAMappedFile(t *testing.T) {
	for _, c := range []struct {
		line string
		want FileID
		ok   bool
	}{
		{"7f2c0a000000-7f2c0a021000 rw-s 00000000 08:01 1234567                    /data/app.log", FileID{Dev: unix.Mkdev(8, 1), Ino: 1234567}, true},
		{"7f2c0a000000-7f2c0a021000 r--p 00001000 fd:1a 42 /data/with space (deleted)", FileID{Dev: unix.Mkdev(0xfd, 0x1a), Ino: 42}, true},
		{"00400000-00452000 r-xp 00000000 103:02 18446744073709551615 /bin/x", FileID{Dev: unix.Mkdev(0x103, 2), Ino: 1<<64 - 1}, true},
		{"7ffd1a2b3000-7ffd1a2d4000 rw-p 00000000 00:00 0                          [stack]", FileID{}, false},
		{"55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0", FileID{}, false},
		{"7f2c0a000000-7f2c0a021000 rw-s 00000000 08:01 18446744073709551616 /overflow", FileID{}, false},
		{"7f2c0a000000-7f2c0a021000 rw-s 00000000 0801 12 /nocolon", FileID{}, false},
		{"7f2c0a000000-7f2c0a021000 rw-s 00000000 08:0g 12 /badhex", FileID{}, false},
		{"7f2c0a000000-7f2c0a021000 rw-s 00000000 08:01 -12 /negative", FileID{}, false},
		{"", FileID{}, false},
		{"short line", FileID{}, false},
	} {
		got, ok := parseMapsLine([]byte(c.line))
		if got != c.want || ok != c.ok {
			t.Errorf("parseMapsLine(%q) = %+v, %v; want %+v, %v", c.line, got, ok, c.want, c.ok)
		}
	}
}

// FuzzParseMapsLine: any line parses or is refused without a panic, and
// a line accepted names a file (inode not 0).
func FuzzParseMapsLine(f *testing.F) {
	f.Add([]byte("7f2c0a000000-7f2c0a021000 rw-s 00000000 08:01 1234567 /data/app.log"))
	f.Add([]byte("7ffd1a2b3000-7ffd1a2d4000 rw-p 00000000 00:00 0 [stack]"))
	f.Fuzz(func(t *testing.T, line []byte) {
		if id, ok := parseMapsLine(line); ok && id.Ino == 0 {
			t.Fatalf("parseMapsLine(%q) accepted inode 0", line)
		}
	})
}

func TestPipeWritersFindsWhoHoldsAPipeOpen(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(r.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	// A child holds the write end; this process closes its copy.
	attr := &os.ProcAttr{Files: []*os.File{nil, w, nil}}
	p, err := os.StartProcess("/bin/sleep", []string{"sleep", "30"}, attr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { p.Kill(); p.Wait() }()
	w.Close()
	got := PipeWriters(st.Ino)
	if len(got) != 1 || got[0] != p.Pid {
		t.Fatalf("writers of the pipe: %v, want [%d]", got, p.Pid)
	}
}

func TestDescendantsFindsAGrandchild(t *testing.T) {
	// sh starts a sleep and waits for it: the sleep is this process's
	// grandchild.
	p, err := os.StartProcess("/bin/sh", []string{"sh", "-c", "sleep 30 & wait"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(-p.Pid, syscall.SIGKILL); p.Kill(); p.Wait() }()
	for range 200 {
		for _, pid := range Descendants(os.Getpid()) {
			if pid == p.Pid {
				continue
			}
			if st, err := ReadStat(pid); err == nil && st.PPID == p.Pid {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the shell's sleep is not among this process's descendants")
}

func TestMountsFindsProcAndParsesEscapedPaths(t *testing.T) {
	m, err := parseMountinfo([]byte(`36 35 98:3 / /mnt/with\040space rw,noatime master:1 - ext4 /dev/vdb rw`))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Mount{Dev: unix.Mkdev(98, 3), Point: "/mnt/with space", FSType: "ext4"}); m != want {
		t.Fatalf("parsed %+v, want %+v", m, want)
	}
	for _, bad := range []string{"", "36 35 98:3 / /mnt rw", "36 35 x / /mnt rw - ext4 /dev/vdb rw"} {
		if _, err := parseMountinfo([]byte(bad)); err == nil {
			t.Errorf("parseMountinfo(%q) accepted a malformed line", bad)
		}
	}
	mounts, err := Mounts()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc", &st); err != nil {
		t.Fatal(err)
	}
	for _, m := range mounts {
		if m.Point == "/proc" && m.FSType == "proc" && m.Dev == st.Dev {
			return
		}
	}
	t.Fatalf("no proc filesystem at /proc with device %d in %+v", st.Dev, mounts)
}

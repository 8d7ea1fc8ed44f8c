package procfs

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// OpenCount counts a process's open descriptors, and sees more when it
// opens more.
func TestOpenCountCountsOpenDescriptors(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := OpenCount(cmd.Process.Pid); !ok || n != len(ents) {
		t.Fatalf("OpenCount(sleep) = %d, %v; /proc/PID/fd lists %d", n, ok, len(ents))
	}
	before, _ := OpenCount(os.Getpid())
	var files []*os.File
	for range 10 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if after, ok := OpenCount(os.Getpid()); !ok || after != before+10 {
		t.Fatalf("after opening 10 files: %d descriptors, before %d", after, before)
	}
	if _, ok := OpenCount(1 << 30); ok {
		t.Fatal("OpenCount of a process that does not exist is ok")
	}
}

package procfs

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// OpenCount counts a process's open descriptors, and sees more when it
// opens more.
func TestOpenCountCountsOpenDescriptors(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// sleep opens and closes files as it starts (its locale): the count
	// is compared with listings taken before and after it that agree.
	listed := func() int {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	for try := 0; ; try++ {
		before := listed()
		n, ok := OpenCount(cmd.Process.Pid)
		after := listed()
		if ok && n == before && before == after {
			break
		}
		if try == 100 {
			t.Fatalf("OpenCount(sleep) = %d, %v; /proc/PID/fd lists %d, then %d", n, ok, before, after)
		}
		time.Sleep(10 * time.Millisecond)
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

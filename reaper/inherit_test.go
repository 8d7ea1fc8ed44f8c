package reaper

import (
	"os"
	"strconv"
	"syscall"
	"testing"
)

func TestInheritedDescriptorsDoNotReachPrograms(t *testing.T) {
	r := startReaper(t)
	// A descriptor as tend inherits it: open across exec.
	fd, err := syscall.Open(os.DevNull, syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	// has exits 0 when the program has descriptor fd open.
	has := func() bool {
		t.Helper()
		p, err := r.Start(Spec{Argv: []string{"sh", "-c", "test -e /proc/$$/fd/" + strconv.Itoa(fd)}, Env: os.Environ()})
		if err != nil {
			t.Fatal(err)
		}
		waitDone(t, p)
		return p.ExitCode() == 0
	}
	if !has() {
		t.Fatalf("descriptor %d does not reach a program even before the call: the test proves nothing", fd)
	}
	if err := CloseInheritedOnExec(); err != nil {
		t.Fatal(err)
	}
	if has() {
		t.Errorf("descriptor %d still reaches programs", fd)
	}
}

package tests

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestInteractiveMainProgramOwnsTheTerminal: with a terminal (docker run
// -it), the main program gets the terminal itself as stdin and stdout and
// is the terminal's foreground process group, so a shell's job control
// works instead of stopping on SIGTTIN.
func TestInteractiveMainProgramOwnsTheTerminal(t *testing.T) {
	t.Parallel()
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script (util-linux) is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inner := tendPath(t) + ` -- sh -c 'test -t 0 && test -t 1 && echo on-a-terminal; ps -o stat= -p $$'`
	out, err := exec.CommandContext(ctx, script, "-qec", inner, "/dev/null").CombinedOutput()
	if err != nil {
		t.Fatalf("script: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "on-a-terminal") {
		t.Errorf("the main program's stdin and stdout are not the terminal:\n%s", out)
	}
	// ps shows "+" for a process in the terminal's foreground group.
	if !strings.Contains(string(out), "+") {
		t.Errorf("the main program is not in the terminal's foreground process group:\n%s", out)
	}
}

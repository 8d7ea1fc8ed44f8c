package main

import (
	"os/exec"
	"testing"
)

// A supervisor's CPU time must leave out the program it runs and reaps:
// the benchmark reports tend's own CPU, not the writer's.
func TestReadTimesLeavesOutReapedChildren(t *testing.T) {
	sh := needTool(t, "sh")
	// The shell does next to nothing itself; its child makes 200,000
	// write calls, tenths of a second of CPU time.
	cmd := exec.Command(sh, "-c", logsgen(t)+" -writer perline -n 200000 > /dev/null")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := waitExited(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	times, err := readTimes(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	total := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if times.children == 0 || times.self >= times.children {
		t.Errorf("the shell: own %v, children %v; want the child's time in children only", times.self, times.children)
	}
	// wait4's rusage adds both up, to within the /proc figures' rounding:
	// each of the four is cut to a whole clock tick, and the kernel scales
	// them from its own clock.
	tolerance := 4*clockTick + total/20
	if d := total - times.self - times.children; d > tolerance || d < -tolerance {
		t.Errorf("rusage %v, /proc own %v + children %v", total, times.self, times.children)
	}
}

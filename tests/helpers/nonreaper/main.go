// Command nonreaper runs one command and waits for it alone, for tend's
// tests.
//
//	nonreaper -- CMD [ARGS...]
//
// As PID 1 of a PID namespace it is an init that never reaps orphans:
// orphans re-parented to it stay zombies. A shell cannot stand in for it,
// because a shell waiting for its command collects any child that exits,
// and would hide a tend that failed to become a child subreaper. It exits
// with the command's exit code, or 128+N when the command was killed by
// signal N.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: nonreaper -- CMD [ARGS...]")
		os.Exit(2)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "nonreaper:", err)
		os.Exit(127)
	}
	// Wait collects this one PID only (waitid on it), never another child.
	cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		os.Exit(128 + int(ws.Signal()))
	}
	os.Exit(cmd.ProcessState.ExitCode())
}

// Command gorunstrue is the least a Go program can do to run another
// program: fork and execute the program at the path its first argument
// gives (not looked up in PATH: os/exec would add its packages' start)
// with the raw system calls, wait for it, and exit with its status.
// bench/startup builds it as tend is built and times it beside tini, as
// the floor under `tend -- true` that the Go runtime's start, its fork
// and exec, and its exit set before tend does anything of its own.
package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gorunstrue PATH [ARG...]")
		os.Exit(2)
	}
	pid, err := syscall.ForkExec(os.Args[1], os.Args[1:], &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2}})
	if err != nil {
		fmt.Fprintf(os.Stderr, "gorunstrue: %v\n", err)
		os.Exit(127)
	}
	var status syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &status, 0, nil); err != nil {
		fmt.Fprintf(os.Stderr, "gorunstrue: wait: %v\n", err)
		os.Exit(1)
	}
	os.Exit(status.ExitStatus())
}

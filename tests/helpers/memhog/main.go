// Command memhog grows in memory, as a leaking service does, for the
// memory tests:
//
//	memhog [-step MiB] [-every D] [-hold-at SHARE] [-once FILE] [-child]
//
// Every -every it maps and touches -step more MiB, outside the Go heap.
// With -hold-at it stops growing once its cgroup's working set reaches
// that share of the memory limit, and holds; without, it grows until the
// kernel kills it. With -once FILE it grows only when FILE does not exist
// (and creates it), so that a program restarted after an OOM kill runs
// quietly the second time. With -child it runs a copy of itself (without
// -child) in its own process group and, when that child is gone, prints
// how it ended and lives on.
//
// It prints "memhog PID growing" when it starts to grow, "memhog PID
// holding BYTES" when it holds, and with -child "memhog child PID ended:
// STATUS".
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"tend/resources"
)

func main() {
	step := flag.Int("step", 2, "MiB added at each step")
	every := flag.Duration("every", 20*time.Millisecond, "time between steps")
	holdAt := flag.Float64("hold-at", 0, "share of the memory limit to grow to and hold (0: grow until killed)")
	once := flag.String("once", "", "grow only when this file does not exist, and create it")
	child := flag.Bool("child", false, "run a copy of itself as a child, and live on after it")
	flag.Parse()
	if *child {
		os.Exit(runChild())
	}
	if *once != "" {
		if _, err := os.Stat(*once); err == nil {
			fmt.Printf("memhog %d: %s exists; not growing\n", os.Getpid(), *once)
			sleepForever()
		}
		if err := os.WriteFile(*once, nil, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "memhog:", err)
			os.Exit(1)
		}
	}
	cg := resources.FindCgroup(resources.CgroupRoot)
	fmt.Printf("memhog %d growing\n", os.Getpid())
	for {
		if *holdAt > 0 {
			m, err := cg.ReadMemory()
			if err != nil || m.LimitBytes == 0 {
				fmt.Fprintln(os.Stderr, "memhog: no memory limit to grow to:", err)
				os.Exit(1)
			}
			if float64(m.WorkingSetBytes) >= *holdAt*float64(m.LimitBytes) {
				fmt.Printf("memhog %d holding %d\n", os.Getpid(), m.WorkingSetBytes)
				sleepForever()
			}
		}
		// Mapped memory is not Go's to free: it stays until the process
		// ends, with no reference kept.
		b, err := syscall.Mmap(-1, 0, *step<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			fmt.Fprintln(os.Stderr, "memhog:", err)
			os.Exit(1)
		}
		for i := 0; i < len(b); i += os.Getpagesize() {
			b[i] = 1
		}
		time.Sleep(*every)
	}
}

// runChild runs a copy of memhog with the same flags but -child, and
// lives on after it ends.
func runChild() int {
	var args []string
	for _, a := range os.Args[1:] {
		if a != "-child" && a != "--child" {
			args = append(args, a)
		}
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "memhog:", err)
		return 1
	}
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "memhog:", err)
		return 1
	}
	fmt.Printf("memhog child %d started\n", cmd.Process.Pid)
	err = cmd.Wait()
	fmt.Printf("memhog child %d ended: %v\n", cmd.Process.Pid, err)
	sleepForever()
	return 0
}

func sleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}

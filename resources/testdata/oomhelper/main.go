// Command oomhelper runs inside a memory-limited container for the
// resources tests. It watches its own cgroup as tend does, then:
//
//  1. starts itself as "oomhelper hold", which grows to 95 % of the limit
//     and holds there, and prints the memory warning that follows;
//  2. starts `tail /dev/zero`, which grows until the OOM killer takes it,
//     and prints the OOM event, the victim it names and the advice.
//
// Each result is one line: "WARN {json}", "OOM {json}", "VICTIM {json}",
// "ADVICE text", or "FAIL why".
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"tend/resources"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "hold" {
		os.Exit(hold())
	}
	os.Exit(run())
}

func emit(kind string, v any) {
	b, _ := json.Marshal(v)
	fmt.Printf("%s %s\n", kind, b)
}

func run() int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cg := resources.FindCgroup(resources.CgroupRoot)
	fmt.Printf("CGROUP v%d %s\n", cg.Version, cg.MemoryDir)
	warns, err := cg.WatchMemory(ctx, resources.DefaultMemoryWarn)
	if err != nil {
		fmt.Println("FAIL watch memory:", err)
		return 1
	}
	ooms, err := cg.WatchOOM(ctx)
	if err != nil {
		fmt.Println("FAIL watch OOM:", err)
		return 1
	}

	self, err := os.Executable()
	if err != nil {
		fmt.Println("FAIL", err)
		return 1
	}
	holder := exec.Command(self, "hold")
	holder.Stdout, holder.Stderr = os.Stderr, os.Stderr
	if err := holder.Start(); err != nil {
		fmt.Println("FAIL start holder:", err)
		return 1
	}
	select {
	case w := <-warns:
		emit("WARN", w)
	case ev := <-ooms:
		emit("FAIL OOM while holding at 95 %:", ev)
	case <-time.After(30 * time.Second):
		fmt.Println("FAIL no memory warning within 30 s")
	}
	holder.Process.Kill()
	holder.Wait()

	tail := exec.Command("tail", "/dev/zero")
	if err := tail.Start(); err != nil {
		fmt.Println("FAIL start tail:", err)
		return 1
	}
	// The supervisor samples RSS now and then; so does this.
	var rss int64
	reaped := make(chan time.Time, 1)
	go func() {
		tail.Wait()
		reaped <- time.Now()
	}()
	var ev resources.OOMEvent
	var at time.Time
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for ev.Kills == 0 || at.IsZero() {
		select {
		case ev = <-ooms:
			emit("OOM", ev)
		case at = <-reaped:
		case <-tick.C:
			if u := resources.ReadUsage(tail.Process.Pid); u != nil && u.RSSBytes > 0 {
				rss = u.RSSBytes
			}
			continue
		case <-ctx.Done():
			fmt.Printf("FAIL no OOM kill of tail within a minute (event %+v, reaped %v)\n", ev, !at.IsZero())
			tail.Process.Kill()
			return 1
		}
	}
	ws := tail.ProcessState.Sys().(syscall.WaitStatus)
	death := resources.Death{Pid: tail.Process.Pid, Program: "tail", Command: tail.Args, Signal: ws.Signal(), RSSBytes: rss, Time: at}
	victims := resources.OOMVictims(ev, []resources.Death{death})
	var victim *resources.Death
	if len(victims) > 0 {
		victim = &victims[0]
		emit("VICTIM", victim)
	}
	fmt.Println("ADVICE", resources.OOMAdvice(ev, victim, 0))
	return 0
}

// hold grows, a MiB at a time outside the Go heap, until the cgroup's
// working set reaches 95 % of its limit, then holds it.
func hold() int {
	cg := resources.FindCgroup(resources.CgroupRoot)
	var chunks [][]byte
	for {
		m, err := cg.ReadMemory()
		if err != nil || m.LimitBytes == 0 {
			fmt.Fprintln(os.Stderr, "hold: no memory limit to grow to:", err)
			return 1
		}
		if float64(m.WorkingSetBytes) >= 0.95*float64(m.LimitBytes) {
			fmt.Fprintf(os.Stderr, "hold: working set %d of %d\n", m.WorkingSetBytes, m.LimitBytes)
			break
		}
		b, err := syscall.Mmap(-1, 0, 1<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			fmt.Fprintln(os.Stderr, "hold:", err)
			return 1
		}
		for i := 0; i < len(b); i += os.Getpagesize() {
			b[i] = 1
		}
		chunks = append(chunks, b)
	}
	time.Sleep(time.Minute)
	runtime.KeepAlive(chunks)
	return 0
}

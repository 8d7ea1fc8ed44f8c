// Command orphanmaker leaves orphans behind, for tend's tests of reaping.
//
//	orphanmaker -n 1000 -dir DIR
//
// It starts a middle process that starts N processes (`cat`, reading a
// pipe) and exits at once without waiting for them: a double fork, so the
// N become orphans and are re-parented to whatever reaps for them (PID 1
// of the namespace, or the nearest child subreaper). orphanmaker then
// writes, in DIR:
//
//	orphans   "N" and, for the orphans running, one line "ppid PPID COUNT"
//	          per parent seen; and "self_ppid PPID"
//
// then closes the pipe, so that every orphan exits at once, and writes
//
//	exited    once every orphan has exited (gone, or a zombie)
//
// and keeps running until it gets SIGTERM or SIGINT, then exits 0. The
// orphans live until the report is written however long it takes to
// start them, so the report sees all of them.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 1000, "number of orphans")
	dir := flag.String("dir", "", "directory for the report files (required)")
	middle := flag.String("middle", "", "internal: run as the middle process, writing PIDs to this file")
	flag.Parse()
	if *middle != "" {
		runMiddle(*n, *middle)
		return
	}
	if *dir == "" {
		fail(fmt.Errorf("-dir is required"))
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	// The orphans read this pipe until orphanmaker closes its end.
	lifeline, hold, err := os.Pipe()
	if err != nil {
		fail(err)
	}
	pidFile := filepath.Join(*dir, "orphans.pids")
	mid := exec.Command(self, "-n", strconv.Itoa(*n), "-middle", pidFile)
	mid.Stdout, mid.Stderr = os.Stdout, os.Stderr
	mid.ExtraFiles = []*os.File{lifeline} // fd 3
	if err := mid.Run(); err != nil {
		fail(fmt.Errorf("middle process: %w", err))
	}
	lifeline.Close()
	pids := readPids(pidFile)

	// Who adopted the orphans that still run?
	parents := map[int]int{}
	for _, pid := range pids {
		if st, ppid, ok := stat(pid); ok && st != 'Z' {
			parents[ppid]++
		}
	}
	var report strings.Builder
	fmt.Fprintf(&report, "orphans %d\nself_ppid %d\n", len(pids), os.Getppid())
	keys := make([]int, 0, len(parents))
	for k := range parents {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		fmt.Fprintf(&report, "ppid %d %d\n", k, parents[k])
	}
	writeFile(filepath.Join(*dir, "orphans"), report.String())

	hold.Close() // every orphan reads EOF and exits
	for _, pid := range pids {
		for {
			st, _, ok := stat(pid)
			if !ok || st == 'Z' {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	writeFile(filepath.Join(*dir, "exited"), time.Now().Format(time.RFC3339Nano)+"\n")
	<-stop
}

// runMiddle starts n processes that read the pipe on fd 3 until EOF, and
// exits without waiting for them.
func runMiddle(n int, pidFile string) {
	cat, err := exec.LookPath("cat")
	if err != nil {
		fail(err)
	}
	lifeline := os.NewFile(3, "lifeline")
	var b strings.Builder
	for i := 0; i < n; i++ {
		c := exec.Command(cat)
		c.Stdin = lifeline
		if err := c.Start(); err != nil {
			fail(fmt.Errorf("orphan %d: %w", i, err))
		}
		fmt.Fprintln(&b, c.Process.Pid)
	}
	writeFile(pidFile, b.String())
	os.Exit(0)
}

// stat returns the state and parent of pid from /proc; ok is false when
// the process is gone.
func stat(pid int) (state byte, ppid int, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0][0], ppid, true
}

func readPids(path string) []int {
	data, err := os.ReadFile(path)
	if err != nil {
		fail(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			fail(err)
		}
		pids = append(pids, n)
	}
	return pids
}

// writeFile writes data to path atomically, so a reader never sees half.
func writeFile(path, data string) {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "orphanmaker:", err)
	os.Exit(1)
}

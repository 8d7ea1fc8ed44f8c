// Command idlewatch measures what watching files costs tend while nothing
// is written: tend's CPU time (utime+stime of /proc/PID/stat) over an idle
// window, as a percentage of one CPU, and its resident memory, for
//
//   - dir: TEND_LOG_WATCH=<a directory of -files small files>;
//   - auto: TEND_LOG_WATCH=auto, with a main program holding -fds files open
//     for writing in one directory;
//   - busy (not idle): TEND_LOG_WATCH=<a directory> while the main program
//     writes a log in it at -rate lines a second, one write(2) per line, as
//     a logger without a buffer does;
//
// each next to its baseline, measured in the same run: the same tend, the
// same main program and files, without TEND_LOG_WATCH. Every run has a
// TEND_LOG_DIR (so the disk budget tracks files) and otherwise default
// settings. As root tend runs as PID 1 of a new PID namespace with its own
// /proc (unshare --pid --fork --mount-proc), as in a container; -pid1=false
// runs it as a plain child (it then sees, and reads, every process of the
// machine).
//
// Usage (make bench runs it with the defaults):
//
//	go run ./bench/idlewatch -tend bin/tend [-tend old=/path/to/tend] [-files 50000] [-fds 10000]
//	        [-settle 20s] [-window 120s] [-rounds 1] [-cases dir,auto,busy] [-rate 50000] [-tail]
//
// The window is long enough to hold the watcher's first safety-net rescan
// (a minute after start, then rarer), so that its cost is in the figure.
// Each -tend is measured in every case, the binaries and cases
// interleaved round by round, so that a busy moment of a shared machine
// falls on all of them. Nothing here is a pass/fail check.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat
// (100 on every architecture Go supports).
const clockTicks = 100

// binaries is the repeatable -tend flag: "path" or "label=path".
type binaries []binary

type binary struct{ label, path string }

func (b *binaries) String() string { return fmt.Sprint(*b) }

func (b *binaries) Set(v string) error {
	label, path, ok := strings.Cut(v, "=")
	if !ok {
		label, path = filepath.Base(v), v
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return err
	}
	*b = append(*b, binary{label: label, path: abs})
	return nil
}

// sample is one run's measure.
type sample struct {
	startCPU float64 // CPU seconds from start to the end of the settle time
	idleCPU  float64 // CPU seconds over the window
	window   time.Duration
	rssKiB   int64
	hwmKiB   int64
	threads  int
}

func (s sample) idlePercent() float64 { return 100 * s.idleCPU / s.window.Seconds() }

func main() {
	if len(os.Args) > 2 && os.Args[1] == "-hold" {
		hold(os.Args[2:])
		return
	}
	var bins binaries
	flag.Var(&bins, "tend", "a tend binary to measure, as PATH or LABEL=PATH (repeatable; default bin/tend)")
	files := flag.Int("files", 50000, "files in the watched directory (case dir)")
	fds := flag.Int("fds", 10000, "files the main program holds open for writing (case auto)")
	settle := flag.Duration("settle", 20*time.Second, "time after start-up (and, for auto, after the main program opened its files) before the window")
	window := flag.Duration("window", 2*time.Minute, "idle window measured")
	rounds := flag.Int("rounds", 1, "rounds over every binary and case")
	pid1 := flag.Bool("pid1", os.Geteuid() == 0, "run tend as PID 1 of a new PID namespace (needs root)")
	only := flag.String("cases", "dir,auto,busy", "cases to run: dir, auto, busy")
	rate := flag.Int("rate", 50000, "lines a second the main program writes, one write each (case busy); -1: as fast as it can")
	tail := flag.Bool("tail", false, "also set TEND_LOG_TAIL=true in every run")
	flag.Parse()
	if len(bins) == 0 {
		check(bins.Set("bin/tend"))
	}

	scratch, err := os.MkdirTemp("", "tend-idlewatch-")
	check(err)
	defer os.RemoveAll(scratch)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-stop
		os.RemoveAll(scratch)
		os.Exit(130)
	}()

	self, err := os.Executable()
	check(err)
	watched := filepath.Join(scratch, "watched")
	check(os.Mkdir(watched, 0o755))
	fmt.Fprintf(os.Stderr, "creating %d files in %s\n", *files, watched)
	line := []byte(strings.Repeat("x", 99) + "\n")
	for i := range *files {
		check(os.WriteFile(filepath.Join(watched, fmt.Sprintf("app-%06d.log", i)), line, 0o644))
	}

	type kase struct {
		name  string
		watch string
		held  int
		rate  int // lines a second written (busy)
	}
	var cases []kase
	for _, c := range strings.Split(*only, ",") {
		switch c {
		case "dir":
			cases = append(cases, kase{"dir", watched, 0, 0})
		case "auto":
			cases = append(cases, kase{"auto", "auto", *fds, 0})
		case "busy":
			if *rate == 0 {
				fail("-rate 0: the busy case needs a writer")
			}
			cases = append(cases, kase{"busy", heldWatch, 0, *rate})
		default:
			fail("-cases: %q is not dir, auto or busy", c)
		}
	}
	results := map[string][]sample{} // by label/case/watch|base
	key := func(b binary, c kase, watching bool) string {
		return fmt.Sprintf("%s\x00%s\x00%v", b.label, c.name, watching)
	}
	for r := range *rounds {
		for _, b := range bins {
			for _, c := range cases {
				for _, watching := range []bool{false, true} {
					run := runOptions{tend: b.path, self: self, scratch: scratch, held: c.held, rate: c.rate,
						settle: *settle, window: *window, pid1: *pid1, tail: *tail}
					if watching {
						run.watch = c.watch
					}
					what := "baseline"
					if watching {
						what = "TEND_LOG_WATCH=" + filepath.Base(c.watch)
					}
					fmt.Fprintf(os.Stderr, "round %d: %s, case %s, %s ...", r+1, b.label, c.name, what)
					s, err := measure(run)
					check(err)
					fmt.Fprintf(os.Stderr, " %.2f %% of a CPU idle, %.1f MiB RSS\n", s.idlePercent(), float64(s.rssKiB)/1024)
					k := key(b, c, watching)
					results[k] = append(results[k], s)
				}
			}
		}
	}

	fmt.Printf("Idle cost of watching: %d files in a watched directory (dir), auto with %d files held open (auto);\n", *files, *fds)
	fmt.Printf("cost while a watched log is written at %s, one write per line (busy: idle CPU is CPU while written).\n", rateName(*rate))
	fmt.Printf("%s settle, %s idle window, %d round(s), tend as PID 1 of its own PID namespace: %v, TEND_LOG_TAIL=%v.\n",
		*settle, *window, *rounds, *pid1, *tail)
	fmt.Printf("CPU %% is of one CPU over the window (median of rounds); start-up is CPU seconds until the window.\n\n")
	fmt.Printf("| tend | case | TEND_LOG_WATCH | idle CPU | start-up CPU | RSS | peak RSS | threads |\n")
	fmt.Printf("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, b := range bins {
		for _, c := range cases {
			for _, watching := range []bool{false, true} {
				ss := results[key(b, c, watching)]
				w := "(unset: baseline)"
				if watching {
					switch c.watch {
					case "auto":
						w = c.watch
					case heldWatch:
						w = "dir of a log written at " + rateName(c.rate)
					default:
						w = "dir of " + strconv.Itoa(*files) + " files"
					}
				}
				fmt.Printf("| %s | %s | %s | %.2f %% | %.2f s | %.1f MiB | %.1f MiB | %d |\n", b.label, c.name, w,
					median(ss, func(s sample) float64 { return s.idlePercent() }),
					median(ss, func(s sample) float64 { return s.startCPU }),
					median(ss, func(s sample) float64 { return float64(s.rssKiB) / 1024 }),
					median(ss, func(s sample) float64 { return float64(s.hwmKiB) / 1024 }),
					int(median(ss, func(s sample) float64 { return float64(s.threads) })))
			}
		}
	}
}

// runOptions describe one run of tend.
type runOptions struct {
	tend, self, scratch string
	watch               string // TEND_LOG_WATCH; empty for the baseline
	held                int    // files the main program holds open
	rate                int    // lines a second the main program writes
	settle, window      time.Duration
	pid1                bool
	tail                bool // TEND_LOG_TAIL=true
}

// measure runs tend once and measures it.
func measure(o runOptions) (sample, error) {
	run, err := os.MkdirTemp(o.scratch, "run-")
	if err != nil {
		return sample{}, err
	}
	defer os.RemoveAll(run)
	ready := filepath.Join(run, "ready")
	heldDir := filepath.Join(run, "held")
	if err := os.Mkdir(heldDir, 0o755); err != nil {
		return sample{}, err
	}
	args := []string{o.tend, "--", o.self, "-hold", heldDir, strconv.Itoa(o.held), ready, strconv.Itoa(o.rate)}
	if o.pid1 {
		args = append([]string{"unshare", "--pid", "--fork", "--mount-proc"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	env := []string{
		"TEND_CONFIG_DIR=" + run,
		"TEND_SOCKET=" + filepath.Join(run, "tend.sock"),
		"TEND_LOG_DIR=" + filepath.Join(run, "logs"),
	}
	switch o.watch {
	case "":
	case heldWatch:
		env = append(env, "TEND_LOG_WATCH="+heldDir)
	default:
		env = append(env, "TEND_LOG_WATCH="+o.watch)
	}
	if o.tail {
		env = append(env, "TEND_LOG_TAIL=true")
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TEND_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return sample{}, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}()
	pid := cmd.Process.Pid
	if o.pid1 {
		// tend is unshare's child: PID 1 of the new namespace.
		var err error
		if pid, err = childOf(pid, 5*time.Second); err != nil {
			return sample{}, err
		}
	}
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		select {
		case err := <-exited:
			return sample{}, fmt.Errorf("tend exited before its main program was ready: %v\n%s", err, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Since(start) > time.Minute {
			return sample{}, errors.New("the main program was not ready after a minute")
		}
	}
	time.Sleep(o.settle)
	before, err := cpuSeconds(pid)
	if err != nil {
		return sample{}, err
	}
	t0 := time.Now()
	time.Sleep(o.window)
	after, err := cpuSeconds(pid)
	if err != nil {
		return sample{}, err
	}
	s := sample{startCPU: before, idleCPU: after - before, window: time.Since(t0)}
	s.rssKiB, s.hwmKiB, s.threads, err = memory(pid)
	return s, err
}

// childOf waits for the first child of pid and returns it.
func childOf(pid int, within time.Duration) (int, error) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if f := strings.Fields(string(data)); len(f) > 0 {
			return strconv.Atoi(f[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, fmt.Errorf("process %d started no child within %v", pid, within)
}

// cpuSeconds is the user and system CPU time of pid (all its threads).
func cpuSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	end := bytes.LastIndexByte(data, ')')
	f := strings.Fields(string(data[end+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the command name", pid, len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return float64(ut+st) / clockTicks, nil
}

// memory reads VmRSS, VmHWM and Threads of /proc/PID/status.
func memory(pid int) (rss, hwm int64, threads int, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		case "Threads":
			threads = int(n)
		}
	}
	return rss, hwm, threads, sc.Err()
}

// rateName says how fast the busy case's writer writes.
func rateName(rate int) string {
	if rate < 0 {
		return "full speed"
	}
	return strconv.Itoa(rate) + " lines/s"
}

// heldWatch stands for the main program's directory as TEND_LOG_WATCH.
const heldWatch = "(held)"

// hold is the main program: it opens n files in dir for writing (as a
// logger opens its log, write-only and appending), writes one line to
// each, creates the ready file, and sleeps until it is signalled; with a
// rate, it writes dir/busy.log at that many lines a second meanwhile, one
// write per line, a millisecond's worth at a time.
func hold(args []string) {
	if len(args) != 4 {
		fail("-hold DIR N READY RATE")
	}
	n, err := strconv.Atoi(args[1])
	check(err)
	rate, err := strconv.Atoi(args[3])
	check(err)
	if n > 0 {
		var lim syscall.Rlimit
		check(syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
		if lim.Cur < uint64(n)+64 {
			lim.Cur = min(lim.Max, uint64(n)+64)
			check(syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
		}
	}
	held := make([]*os.File, 0, n)
	for i := range n {
		f, err := os.OpenFile(filepath.Join(args[0], fmt.Sprintf("held-%05d.log", i)), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		check(err)
		_, err = f.WriteString("started\n")
		check(err)
		held = append(held, f)
	}
	check(os.WriteFile(args[2], nil, 0o644))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	if rate != 0 {
		go writeLines(filepath.Join(args[0], "busy.log"), rate)
	}
	<-sig
	for _, f := range held {
		f.Close()
	}
}

// writeLines appends 100-byte lines to path at rate lines a second (as
// fast as it can with a negative rate), one write each, until the process
// ends.
func writeLines(path string, rate int) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	check(err)
	line := []byte(strings.Repeat("x", 99) + "\n")
	for rate < 0 {
		_, err := f.Write(line)
		check(err)
	}
	start := time.Now()
	written := 0
	for tick := time.NewTicker(time.Millisecond); ; <-tick.C {
		due := int(time.Since(start).Seconds() * float64(rate))
		for ; written < due; written++ {
			_, err := f.Write(line)
			check(err)
		}
	}
}

func median(ss []sample, v func(sample) float64) float64 {
	if len(ss) == 0 {
		return 0
	}
	xs := make([]float64, len(ss))
	for i, s := range ss {
		xs[i] = v(s)
	}
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "idlewatch: "+format+"\n", a...)
	os.Exit(1)
}

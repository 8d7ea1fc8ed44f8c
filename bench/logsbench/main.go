// Command logsbench measures, in one run, what tend's log pipeline costs
// next to the loggers a container would otherwise use: 1 GiB of 120-byte
// lines from one program (bench/logsgen, the same writer for every case)
// through
//
//   - tend, raw, to rotated files (TEND_LOG_DIR, 50 MiB files, 6 kept: the
//     live one and 5 rotated, as s6-log's and svlogd's n5; console to
//     /dev/null);
//   - tend, raw, to the console (stdout to a file);
//   - tend, json, to the console (stdout to a file);
//   - `program | cat > file`, the baseline every ratio is taken against;
//   - `program | s6-log n5 s52428800 DIR` and `program | svlogd DIR`
//     (config s52428800, n5), the same rotation, when they are installed;
//   - and, for reference, the program writing the file by itself.
//
// For each it reports wall time (program start to the last process's
// exit), throughput, the CPU seconds of the logger process alone (for
// tend, its rusage less the program's own, which the program reports at
// exit), and the logger's peak RSS (VmHWM, sampled every 5 ms). Every case
// runs -runs times, interleaved, with a sync between runs, and the median
// is shown. Each run's output is checked: the last line kept must be the
// last line written.
//
// Usage (bench/logs.sh runs it; make bench runs that after make build):
//
//	go run ./bench/logsbench -tend bin/tend [-size 1GiB] [-runs 3] [-dir DIR]
//
// It prints markdown on stdout. Nothing here is pass/fail: the targets are
// printed next to the figures for reading.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// lineSize is the length of every line, newline included.
const lineSize = 120

// rotation is the file size every rotating logger uses; archives is how many
// rotated files s6-log and svlogd keep besides the live one (n5), so tend
// keeps archives+1 files in all (its count includes the live file).
const (
	rotation = 50 << 20
	archives = 5
)

func main() {
	tendBin := flag.String("tend", "bin/tend", "the tend binary to measure (from make build)")
	sizeFlag := flag.String("size", "1GiB", "bytes each case writes (a multiple of 120 at most this)")
	runs := flag.Int("runs", 3, "runs of each case; the median is shown")
	dirFlag := flag.String("dir", "", "scratch directory for the output (default: a new one under $TMPDIR)")
	flag.Parse()

	size, err := parseSize(*sizeFlag)
	check(err)
	lines := size / lineSize
	tend, err := filepath.Abs(*tendBin)
	check(err)
	if _, err := os.Stat(tend); err != nil {
		fail("%s: %v (run make build first)", *tendBin, err)
	}
	scratch, err := os.MkdirTemp(*dirFlag, "tend-logsbench-")
	check(err)
	defer os.RemoveAll(scratch)
	gen := filepath.Join(scratch, "logsgen")
	build := exec.Command("go", "build", "-trimpath", "-o", gen, "./bench/logsgen")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fail("go build ./bench/logsgen: %v\n%s", err, out)
	}

	b := &bench{tend: tend, gen: gen, scratch: scratch, lines: lines}
	cases := []benchCase{
		{name: "program writes the file itself (no logger)", run: b.direct},
		{name: "`cat > file`", run: b.cat, baseline: true},
		{name: "tend, raw, to files (50 MiB x 6)", run: b.tendFiles, target: true},
		{name: "tend, raw, console to a file", run: b.tendConsole("raw")},
		{name: "tend, json, console to a file", run: b.tendConsole("json")},
	}
	if p, err := exec.LookPath("s6-log"); err == nil {
		cases = append(cases, benchCase{name: "`s6-log n5 s52428800`", run: b.s6log(p), peer: true})
	}
	if p, err := exec.LookPath("svlogd"); err == nil {
		cases = append(cases, benchCase{name: "`svlogd` (config s52428800, n5)", run: b.svlogd(p)})
	}

	loadBefore := loadAverage()
	results := make([][]result, len(cases))
	for round := 0; round < *runs; round++ {
		// Each round starts with another case, so that no case always
		// follows the same one (page-cache writeback of the one before).
		for k := range cases {
			i := (k + round) % len(cases)
			fmt.Fprintf(os.Stderr, "logsbench: round %d/%d: %s\n", round+1, *runs, cases[i].name)
			r := cases[i].run()
			results[i] = append(results[i], r)
			clean(scratch)
			// Start the next case with no dirty pages left to write back.
			syscall.Sync()
		}
	}
	report(cases, results, *sizeFlag, lines*lineSize, *runs, scratch, loadBefore+" before, "+loadAverage()+" after")
}

// bench holds what every case needs.
type bench struct {
	tend, gen, scratch string
	lines              int64
}

// benchCase is one way of logging the program's output.
type benchCase struct {
	name     string
	run      func() result
	baseline bool // the ratios' denominator (cat)
	target   bool // tend raw to files: the targets apply
	peer     bool // the peer tend raw to files must beat (s6-log)
}

// result is one run of a case.
type result struct {
	wall time.Duration
	cpu  time.Duration // the logger's user+system time
	rss  int64         // the logger's peak RSS, KiB
}

func (b *bench) genArgs(rusage string) []string {
	args := []string{b.gen, "-n", strconv.FormatInt(b.lines, 10)}
	if rusage != "" {
		args = append(args, "-rusage", rusage)
	}
	return args
}

// lastLine is the last line the program writes.
func (b *bench) lastLine() []byte {
	line := fmt.Appendf(nil, "%012d ", b.lines-1)
	line = append(line, bytes.Repeat([]byte{'x'}, lineSize-1-len(line))...)
	return append(line, '\n')
}

func (b *bench) direct() result {
	out := b.create("out")
	defer out.Close()
	cmd := exec.Command(b.gen, b.genArgs("")[1:]...)
	cmd.Stdout = out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		fail("logsgen: %v", err)
	}
	r := result{wall: time.Since(start)}
	b.expectEnd(out.Name(), b.lastLine())
	return r
}

func (b *bench) cat() result {
	out := b.create("out")
	defer out.Close()
	r := b.pipeline(exec.Command("cat"), out)
	b.expectEnd(out.Name(), b.lastLine())
	return r
}

func (b *bench) s6log(path string) func() result {
	return func() result {
		dir := filepath.Join(b.scratch, "s6")
		check(os.Mkdir(dir, 0o755))
		r := b.pipeline(exec.Command(path, "n"+strconv.Itoa(archives), "s"+strconv.Itoa(rotation), dir), nil)
		b.expectEnd(filepath.Join(dir, "current"), b.lastLine())
		return r
	}
}

func (b *bench) svlogd(path string) func() result {
	return func() result {
		dir := filepath.Join(b.scratch, "sv")
		check(os.Mkdir(dir, 0o755))
		config := fmt.Sprintf("s%d\nn%d\n", rotation, archives)
		check(os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o644))
		r := b.pipeline(exec.Command(path, dir), nil)
		b.expectEnd(filepath.Join(dir, "current"), b.lastLine())
		return r
	}
}

func (b *bench) tendFiles() result {
	dir := filepath.Join(b.scratch, "tend")
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	check(err)
	defer devnull.Close()
	r := b.underTend(devnull,
		"TEND_LOG_DIR="+dir,
		"TEND_LOG_FILE_SIZE="+strconv.Itoa(rotation),
		"TEND_LOG_FILE_COUNT="+strconv.Itoa(archives+1))
	b.expectEnd(filepath.Join(dir, "main.log"), b.lastLine())
	return r
}

func (b *bench) tendConsole(format string) func() result {
	return func() result {
		out := b.create("out")
		defer out.Close()
		r := b.underTend(out, "TEND_LOG_FORMAT="+format)
		last := b.lastLine()
		if format == "json" {
			last = fmt.Appendf(nil, "%q}\n", bytes.TrimSuffix(last, []byte("\n")))
		}
		b.expectEnd(out.Name(), last)
		return r
	}
}

// pipeline runs `logsgen | logger` with the logger's stdout to out (nil:
// /dev/null) and measures the logger.
func (b *bench) pipeline(logger *exec.Cmd, out *os.File) result {
	pr, pw, err := os.Pipe()
	check(err)
	argv := b.genArgs("")
	gen := exec.Command(argv[0], argv[1:]...)
	gen.Stdout = pw
	logger.Stdin = pr
	if out != nil {
		logger.Stdout = out
	}
	logger.Stderr = os.Stderr
	start := time.Now()
	check(logger.Start())
	check(gen.Start())
	pw.Close()
	pr.Close()
	peak := sampleHWM(logger.Process.Pid)
	if err := gen.Wait(); err != nil {
		fail("logsgen: %v", err)
	}
	if err := logger.Wait(); err != nil {
		fail("%s: %v", logger.Path, err)
	}
	wall := time.Since(start)
	return result{wall: wall, cpu: cpuOf(logger.ProcessState), rss: <-peak}
}

// underTend runs `tend -- logsgen` with tend's stdout to out and the extra
// settings env, and measures tend: its rusage (which includes the program
// it reaped) less what the program reports for itself.
func (b *bench) underTend(out *os.File, env ...string) result {
	conf := filepath.Join(b.scratch, "conf")
	check(os.MkdirAll(conf, 0o755))
	ru := filepath.Join(b.scratch, "rusage")
	cmd := exec.Command(b.tend, append([]string{"--"}, b.genArgs(ru)...)...)
	cmd.Env = append(hermeticEnv(),
		"TEND_CONFIG_DIR="+conf,
		"TEND_SOCKET="+filepath.Join(b.scratch, "tend.sock"))
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout = out
	cmd.Stderr = os.Stderr
	start := time.Now()
	check(cmd.Start())
	peak := sampleHWM(cmd.Process.Pid)
	if err := cmd.Wait(); err != nil {
		fail("tend: %v", err)
	}
	wall := time.Since(start)
	genCPU := readRusage(ru)
	return result{wall: wall, cpu: cpuOf(cmd.ProcessState) - genCPU, rss: <-peak}
}

// create creates a file in the scratch directory.
func (b *bench) create(name string) *os.File {
	f, err := os.Create(filepath.Join(b.scratch, name))
	check(err)
	return f
}

// expectEnd checks that path ends with last: the logger kept the last
// line written.
func (b *bench) expectEnd(path string, last []byte) {
	f, err := os.Open(path)
	check(err)
	defer f.Close()
	st, err := f.Stat()
	check(err)
	buf := make([]byte, len(last))
	if st.Size() < int64(len(last)) {
		fail("%s: %d bytes, too short", filepath.Base(path), st.Size())
	}
	_, err = f.ReadAt(buf, st.Size()-int64(len(last)))
	check(err)
	if !bytes.Equal(buf, last) {
		fail("%s ends with %q, want %q", filepath.Base(path), buf, last)
	}
}

// clean empties the scratch directory but for the program binary.
func clean(scratch string) {
	ents, err := os.ReadDir(scratch)
	check(err)
	for _, e := range ents {
		if e.Name() != "logsgen" {
			check(os.RemoveAll(filepath.Join(scratch, e.Name())))
		}
	}
}

// sampleHWM reads VmHWM of pid every 5 ms until the process is gone and
// sends the last value read (KiB). The high-water mark only grows, so the
// last read is the peak up to a few milliseconds before the exit.
func sampleHWM(pid int) <-chan int64 {
	ch := make(chan int64, 1)
	go func() {
		var peak int64
		path := fmt.Sprintf("/proc/%d/status", pid)
		for {
			v, ok := readHWM(path)
			if !ok {
				ch <- peak
				return
			}
			peak = max(peak, v)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return ch
}

// readHWM returns VmHWM from a /proc/PID/status file; false once the
// process has exited (a zombie has no VmHWM line).
func readHWM(path string) (int64, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}

// readRusage reads what logsgen -rusage wrote: its user and system time.
func readRusage(path string) time.Duration {
	data, err := os.ReadFile(path)
	check(err)
	f := strings.Fields(string(data))
	if len(f) < 2 {
		fail("malformed rusage %q", data)
	}
	user, err1 := strconv.ParseInt(f[0], 10, 64)
	sys, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		fail("malformed rusage %q", data)
	}
	return time.Duration(user+sys) * time.Microsecond
}

func cpuOf(ps *os.ProcessState) time.Duration { return ps.UserTime() + ps.SystemTime() }

// hermeticEnv is this process's environment without any TEND_ variable.
func hermeticEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TEND_") {
			env = append(env, kv)
		}
	}
	return env
}

// median returns the run with the median wall time, and the median of
// each other figure across runs.
func median(rs []result) result {
	pick := func(f func(result) int64) int64 {
		v := make([]int64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return result{
		wall: time.Duration(pick(func(r result) int64 { return int64(r.wall) })),
		cpu:  time.Duration(pick(func(r result) int64 { return int64(r.cpu) })),
		rss:  pick(func(r result) int64 { return r.rss }),
	}
}

func report(cases []benchCase, results [][]result, size string, bytesOut int64, runs int, scratch, load string) {
	var cat, s6, tend result
	var tendRuns []result
	med := make([]result, len(cases))
	for i, c := range cases {
		med[i] = median(results[i])
		switch {
		case c.baseline:
			cat = med[i]
		case c.peer:
			s6 = med[i]
		case c.target:
			tend = med[i]
			tendRuns = results[i]
		}
	}
	gib := float64(bytesOut) / (1 << 30)
	mbps := func(r result) float64 { return float64(bytesOut) / r.wall.Seconds() / 1e6 }

	fmt.Printf("### %s of 120-byte lines through a logger\n\n", size)
	fmt.Printf("%s; %d CPUs (%s), Linux %s, output on %s; %s bytes (%d lines) per case; median of %d runs, cases interleaved; load average %s.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), cpuModel(), kernel(), fsType(scratch),
		strconv.FormatInt(bytesOut, 10), bytesOut/lineSize, runs, load)
	fmt.Println("| case | wall s | MB/s | throughput vs cat | logger CPU s | CPU s per GiB | CPU vs cat | logger peak RSS MiB |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for i, c := range cases {
		r := med[i]
		cpu, perGiB, cpuRatio := "—", "—", "—"
		if c.name != cases[0].name { // the program alone has no logger
			cpu = fmt.Sprintf("%.2f", r.cpu.Seconds())
			perGiB = fmt.Sprintf("%.2f", r.cpu.Seconds()/gib)
			cpuRatio = fmt.Sprintf("%.2f", r.cpu.Seconds()/cat.cpu.Seconds())
		}
		rss := "—"
		if r.rss > 0 {
			rss = fmt.Sprintf("%.1f", float64(r.rss)/1024)
		}
		fmt.Printf("| %s | %.2f | %.0f | %.2f | %s | %s | %s | %s |\n",
			c.name, r.wall.Seconds(), mbps(r), cat.wall.Seconds()/r.wall.Seconds(), cpu, perGiB, cpuRatio, rss)
	}
	fmt.Println()
	fmt.Println("Targets for tend, raw, to files:")
	fmt.Println()
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	ratio := cat.wall.Seconds() / tend.wall.Seconds()
	fmt.Printf("- throughput at least 0.8x of `cat > file`: %.2fx, %s\n", ratio, verdict(ratio >= 0.8))
	if s6.wall > 0 {
		fmt.Printf("- faster than s6-log: %.2f s against %.2f s (%.2fx), %s\n",
			tend.wall.Seconds(), s6.wall.Seconds(), s6.wall.Seconds()/tend.wall.Seconds(), verdict(tend.wall < s6.wall))
	}
	perGiB := tend.cpu.Seconds() / gib
	fmt.Printf("- at most 1 CPU-second per GiB: %.2f s, %s\n", perGiB, verdict(perGiB <= 1))
	rss := float64(tend.rss) / 1024
	fmt.Printf("- under 32 MiB of memory during the flood: peak RSS %.1f MiB, %s\n", rss, verdict(rss < 32))
	if len(tendRuns) > 1 {
		lo, hi := tendRuns[0], tendRuns[0]
		for _, r := range tendRuns {
			lo.wall, hi.wall = min(lo.wall, r.wall), max(hi.wall, r.wall)
			lo.cpu, hi.cpu = min(lo.cpu, r.cpu), max(hi.cpu, r.cpu)
			lo.rss, hi.rss = min(lo.rss, r.rss), max(hi.rss, r.rss)
		}
		fmt.Printf("\nAcross the %d runs, tend, raw, to files took %.2f to %.2f s, %.2f to %.2f CPU-seconds per GiB, %.1f to %.1f MiB peak RSS.\n",
			len(tendRuns), lo.wall.Seconds(), hi.wall.Seconds(), lo.cpu.Seconds()/gib, hi.cpu.Seconds()/gib,
			float64(lo.rss)/1024, float64(hi.rss)/1024)
	}
}

// loadAverage returns the one-minute load average: on a shared machine,
// other work shows in the figures.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(data)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func kernel() string {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return "?"
	}
	var b []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// fsType names the filesystem of dir (the kinds a benchmark is run on).
func fsType(dir string) string {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return "?"
	}
	switch st.Type {
	case 0xEF53:
		return "ext4"
	case 0x01021994:
		return "tmpfs"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x794c7630:
		return "overlayfs"
	}
	return fmt.Sprintf("filesystem type %#x", st.Type)
}

// parseSize reads 1GiB, 512MiB, 64KiB or a number of bytes.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("-size %q: want a size such as 1GiB or 512MiB", s)
			}
			return n * u.mult, nil
		}
	}
	return 0, fmt.Errorf("-size %q: want a size such as 1GiB", s)
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "logsbench: "+format+"\n", args...)
	os.Exit(1)
}

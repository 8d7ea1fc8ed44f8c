// Command logsbench measures what tend's log path costs next to the ways a
// container would otherwise keep a program's output, with the writers
// real programs are: the same numbered 120-byte lines, cut into write(2)
// calls as a Go program with bufio, a JVM, C stdio or a per-line logger
// cuts them (bench/logsgen's -writer modes, and a real JVM running
// bench/java/Writer.java).
//
// Two matrices, each writer through each case:
//
//   - the key cells, at -size (1 GiB): `writer | cat > file` (the baseline
//     of every ratio), `tend -- writer` with TEND_LOG_DIR (raw to rotated
//     files, default size and count, console to /dev/null), `tend --
//     writer` with TEND_LOG_FORMAT=json, console to a file, and the same
//     with the console a pipe that cat copies to the file (`tend -- writer
//     | cat > file`: a container runtime reading tend's stdout), and the
//     floor of the two (bench/logfloor: the least a collector can do, raw to
//     rotated files and JSON lines to a file, in a bare Go program);
//   - the peers, at -peer-size (128 MiB): the writer alone to /dev/null,
//     the same three, `writer | s6-log`, `writer | svlogd` (both rotating
//     as tend does), `tini -s -- writer > file` and supervisord's
//     stdout_logfile, each when installed.
//
// Every cell runs -runs times; a round runs every cell once, each round
// starting at another cell, so that the cells alternate (ABAB...) and a
// busy moment on a shared machine spreads over all of them; a sync between
// runs starts each with no dirty pages. Medians are shown; a ratio to cat
// is the median of the ratios within each round, so that a busy spell that
// slows cat and the case alike cancels out.
//
// For each run: wall time from the start to the exit of the last process
// (supervisord, which outlives its program, from the writer's spawn until
// every byte is in its files); the logger's own CPU time, read from
// /proc/PID/stat after it exited but before it is reaped, so the writer
// that a supervisor reaped is not counted (a pipeline's logger has no
// children); its peak RSS (VmHWM, sampled every 5 ms). Every run's output
// is checked in full against the stream: count and order of the lines, so
// a logger that loses lines cannot look fast. Files a rotating logger
// deleted during the run are followed with inotify and checked by size and
// first and last line; see rotation.go.
//
// Usage (bench/logs.sh compiles the Java writer and runs it; make bench
// runs that after make build):
//
//	go run ./bench/logsbench -tend bin/tend [-quick] [-size 1GiB] [-peer-size 128MiB]
//	        [-runs 3] [-writers LIST] [-cases LIST] [-peers LIST] [-java DIR] [-dir DIR]
//	        [-csv PREFIX]
//
// It prints markdown on stdout, progress on stderr. Nothing is pass/fail;
// a run whose output is wrong is shown as FAILED with the first error.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// binDir is the directory of the scratch directory that the programs built
// for the run go to.
const binDir = "bin"

// buildCommand builds ./bench/NAME into scratch's binDir and returns the
// binary's path.
func buildCommand(scratch, name string) string {
	bin := filepath.Join(scratch, binDir, name)
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./bench/"+name)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fail("go build ./bench/%s: %v\n%s", name, err, out)
	}
	return bin
}

func main() {
	tendBin := flag.String("tend", "bin/tend", "the tend binary to measure (from make build)")
	baseBin := flag.String("base", "", "another tend binary, which the base-files and base-json cases run (a build to compare with)")
	quick := flag.Bool("quick", false, "smoke run: -size and -peer-size 128MiB")
	sizeFlag := flag.String("size", "1GiB", "bytes each key cell writes (rounded down to whole lines)")
	peerSizeFlag := flag.String("peer-size", "128MiB", "bytes each peer cell writes; 0 leaves the peers out")
	runs := flag.Int("runs", 3, "runs of each cell; the median is shown")
	writerList := flag.String("writers", "lines,bufio64k,java8k,stdio4k,perline,jvm,jvm-printwriter", "writers, from: "+names(writers))
	caseList := flag.String("cases", "cat,tend-files,floor-files,tend-json,floor-json,tend-json-pipe", "cases of the key matrix, from: "+loggerKeys())
	peerList := flag.String("peers", "null,cat,tend-files,tend-json,s6-log,svlogd,tini,supervisord", "cases of the peer matrix (those installed)")
	javaDir := flag.String("java", javaClasses, "directory holding the compiled bench/java/Writer.java")
	dirFlag := flag.String("dir", "", "scratch directory for the output (default: a new one under $TMPDIR)")
	csvPrefix := flag.String("csv", "", "also write every run to PREFIX-key.csv and PREFIX-peers.csv")
	writesLines := flag.Int64("writes-lines", 100000, "lines each writer writes to show its write sizes; 0 leaves that out")
	flag.Parse()

	if *quick {
		*sizeFlag, *peerSizeFlag = "128MiB", "128MiB"
	}
	size, err := parseSize("-size", *sizeFlag)
	check(err)
	peerSize := int64(0)
	if *peerSizeFlag != "0" {
		peerSize, err = parseSize("-peer-size", *peerSizeFlag)
		check(err)
	}
	if *runs < 1 {
		fail("-runs %d: want at least 1", *runs)
	}
	tend, err := filepath.Abs(*tendBin)
	check(err)
	if _, err := os.Stat(tend); err != nil {
		fail("-tend %s: %v (run make build first)", *tendBin, err)
	}
	ws, notes := pickWriters(*writerList, *javaDir)
	keyCases := pickLoggers("-cases", *caseList, &notes)
	peerCases := pickLoggers("-peers", *peerList, &notes)

	scratch, err := os.MkdirTemp(*dirFlag, "tend-logsbench-")
	check(err)
	defer os.RemoveAll(scratch)
	gen := buildCommand(scratch, "logsgen")
	floor := buildCommand(scratch, "logfloor")
	javaAbs, err := filepath.Abs(*javaDir)
	check(err)
	b := &bench{tend: tend, gen: gen, floor: floor, javaDir: javaAbs, scratch: scratch}
	if *baseBin != "" {
		b.base, err = filepath.Abs(*baseBin)
		check(err)
		fmt.Printf("Base: %s.\n", tendVersion(b.base))
	}

	fmt.Printf("%s; %s; %d CPUs (%s), Linux %s, output on %s%s.\n\n",
		tendVersion(tend), time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), cpuModel(), kernel(), fsType(scratch), pageReporting())
	for _, n := range notes {
		fmt.Printf("- %s\n", n)
	}
	if len(notes) > 0 {
		fmt.Println()
	}
	if *writesLines > 0 {
		writesTable(b, ws, stream{lines: *writesLines})
	}
	m := matrix{title: "Key cells", stream: stream{lines: size / lineSize}, sizeText: *sizeFlag, writers: ws, loggers: keyCases, runs: *runs}
	m.run(b)
	m.report()
	if *csvPrefix != "" {
		check(m.writeCSV(*csvPrefix + "-key.csv"))
	}
	if peerSize > 0 && len(peerCases) > 0 {
		p := matrix{title: "Peers", stream: stream{lines: peerSize / lineSize}, sizeText: *peerSizeFlag, writers: ws, loggers: peerCases, runs: *runs}
		p.run(b)
		p.report()
		if *csvPrefix != "" {
			check(p.writeCSV(*csvPrefix + "-peers.csv"))
		}
	}
}

// pickWriters returns the writers named in list; the JVM ones only when
// the Java writer is compiled, with a note when it is not.
func pickWriters(list, javaDir string) ([]writer, []string) {
	var ws []writer
	var notes []string
	for _, name := range splitList(list) {
		i := slices.IndexFunc(writers, func(w writer) bool { return w.name == name })
		if i < 0 {
			fail("-writers: %q is not a writer; want some of %s", name, names(writers))
		}
		w := writers[i]
		if w.java {
			if _, err := os.Stat(filepath.Join(javaDir, "Writer.class")); err != nil {
				notes = append(notes, fmt.Sprintf("writer %s left out: %s/Writer.class not found (bench/logs.sh compiles bench/java/Writer.java there)", name, javaDir))
				continue
			}
			if _, err := exec.LookPath("java"); err != nil {
				notes = append(notes, fmt.Sprintf("writer %s left out: no java on PATH", name))
				continue
			}
		}
		ws = append(ws, w)
	}
	return ws, notes
}

// pickLoggers returns the cases named in list that can run here, adding a
// note for each whose program is not installed.
func pickLoggers(flagName, list string, notes *[]string) []logger {
	var ls []logger
	for _, key := range splitList(list) {
		i := slices.IndexFunc(loggers, func(l logger) bool { return l.key == key })
		if i < 0 {
			fail("%s: %q is not a case; want some of %s", flagName, key, loggerKeys())
		}
		l := loggers[i]
		if l.needs != "" {
			if _, err := exec.LookPath(l.needs); err != nil {
				*notes = append(*notes, fmt.Sprintf("%s left out: %s is not installed", l.key, l.needs))
				continue
			}
		}
		ls = append(ls, l)
	}
	return ls
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func names(ws []writer) string {
	var n []string
	for _, w := range ws {
		n = append(n, w.name)
	}
	return strings.Join(n, ", ")
}

func loggerKeys() string {
	var n []string
	for _, l := range loggers {
		n = append(n, l.key)
	}
	return strings.Join(n, ", ")
}

// matrix is every writer through every logger, at one size.
type matrix struct {
	title    string
	stream   stream
	sizeText string
	writers  []writer
	loggers  []logger
	runs     int
	results  map[[2]int][]result // [writer, logger] -> runs
	load     string
}

// run runs every cell m.runs times, a round at a time.
func (m *matrix) run(b *bench) {
	type cell struct{ w, l int }
	var cells []cell
	for w := range m.writers {
		for l := range m.loggers {
			cells = append(cells, cell{w, l})
		}
	}
	m.results = map[[2]int][]result{}
	before := loadAverage()
	for round := 0; round < m.runs; round++ {
		// Each round starts at another cell, so that no cell always
		// follows the same one (page-cache writeback of the one before).
		for k := range cells {
			c := cells[(k+round*(1+len(cells)/m.runs))%len(cells)]
			w, l := m.writers[c.w], m.loggers[c.l]
			fmt.Fprintf(os.Stderr, "logsbench: %s, round %d/%d: %s through %s\n", m.title, round+1, m.runs, w.name, l.key)
			r := runCell(l, b, w, m.stream)
			if r.err != nil {
				fmt.Fprintf(os.Stderr, "logsbench: FAILED: %s through %s: %v\n", w.name, l.key, r.err)
			}
			m.results[[2]int{c.w, c.l}] = append(m.results[[2]int{c.w, c.l}], r)
			clean(b.scratch)
			// Start the next run with no dirty pages left to write back.
			syscall.Sync()
		}
	}
	m.load = before + " before, " + loadAverage() + " after"
}

// runCell runs one cell with the garbage collector off: a collection
// stops every thread of this process, the rotation watch's too, and on a
// loaded machine waiting for all of them can make the watch miss a
// rotation. A run allocates little; the collection runs between runs.
func runCell(l logger, b *bench, w writer, s stream) result {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	r := l.run(b, w, s)
	runtime.GC()
	return r
}

// clean empties the scratch directory but for the binaries built for the
// run (buildCommand).
func clean(scratch string) {
	ents, err := os.ReadDir(scratch)
	check(err)
	for _, e := range ents {
		if e.Name() != binDir {
			check(os.RemoveAll(filepath.Join(scratch, e.Name())))
		}
	}
}

// tendVersion is what `tend version` prints.
func tendVersion(tend string) string {
	out, err := exec.Command(tend, "version").Output()
	if err != nil {
		return "(version unknown)"
	}
	return strings.TrimSpace(string(out))
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

// pageReporting says, when it is so, that the machine is a virtual
// machine that hands the memory it frees back to its host: a virtio
// balloon (device 5) that offers free page reporting (feature bit 5).
// There a page the page cache takes anew may first be faulted in by the
// host, and writing a new file's bytes costs two to twelve times as much,
// unevenly (docs/benchmarks.md): the figures of the cases that write the
// most bytes spread with it.
func pageReporting() string {
	devices, _ := filepath.Glob("/sys/bus/virtio/devices/*")
	for _, d := range devices {
		id, _ := os.ReadFile(filepath.Join(d, "device"))
		features, _ := os.ReadFile(filepath.Join(d, "features"))
		if strings.TrimSpace(string(id)) != "0x0005" || len(features) <= 5 || features[5] != '1' {
			continue
		}
		order, err := os.ReadFile("/sys/module/page_reporting/parameters/page_reporting_order")
		if err != nil {
			return ", freed memory reported to the host (free page reporting)"
		}
		return fmt.Sprintf(", freed memory reported to the host (free page reporting, order %s)", strings.TrimSpace(string(order)))
	}
	return ""
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

// parseSize reads 1GiB, 512MiB, 64KiB or a number of bytes; the result
// holds at least one line.
func parseSize(name, s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n <= 0 || n*u.mult < lineSize {
				break
			}
			return n * u.mult, nil
		}
	}
	return 0, fmt.Errorf("%s %q: want a size of at least %d bytes such as 1GiB, 128MiB or 65536", name, s, lineSize)
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "logsbench: "+format+"\n", args...)
	os.Exit(2)
}

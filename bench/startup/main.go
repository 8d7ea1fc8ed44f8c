// Command startup measures, in one run, what tend costs a container next to
// its peers from the distribution:
//
//   - start-up overhead: `tend -- true` against `true` alone, `tini -- true`
//     and `dumb-init true`, timed by hyperfine (-N, no shell, 20 warm-ups);
//     the runs are split into -rounds hyperfine calls of every command, each
//     round in another order, so that the commands alternate and a busy
//     moment on a shared machine falls on all of them; the figures are
//     over every run of every round, and the overheads are differences of
//     medians (a few runs slowed down by other work move a mean, not a
//     median). With -fifo (root), hyperfine and the commands run in the
//     real-time FIFO class, ahead of the machine's other work. tend and the
//     Go programs beside it are run from copies written as an image layer's
//     extraction writes files (see install); tend is also run from the
//     file the linker wrote, which the kernel caches in single pages;
//   - idle memory: VmRSS of tend (and of tini and dumb-init) one second
//     after starting with a sleeping main program;
//   - binary size: the stripped static binary, and what each dependency
//     adds to it (symbol sizes of an unstripped build, by package).
//
// Usage (bench/startup.sh runs it):
//
//	go run ./bench/startup -tend bin/tend [-json DIR] [-runs N] [-rounds N] [-fifo]
//	go run ./bench/startup -tend bin/tend -against OTHER [-pairs N]
//
// With -against, it times only `tend -- true` of two builds, one start of
// each in turn (see against): for a change too small for the tables.
//
// Peers that are not installed are left out of the tables. Nothing here is
// a pass/fail check: the figures are for reading and comparing.
package main

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// buildTags are the build tags of `make build` (the Makefile's TAGS):
// every program timed beside tend is built with them.
const buildTags = "nethttpomithttp2"

// buildGo builds the command ./bench/startup/<pkg> as make build builds
// tend (static, stripped, trimmed paths, the same tags) into dir, and
// returns the path of its installed copy (see install).
func buildGo(dir, pkg string) string {
	out := filepath.Join(dir, "built-"+strings.ReplaceAll(pkg, "/", "-"))
	cmd := exec.Command("go", "build", "-trimpath", "-tags", buildTags, "-ldflags", "-s -w", "-o", out, "./bench/startup/"+pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		fail("build ./bench/startup/%s: %v\n%s", pkg, err, b)
	}
	return install(dir, out)
}

// installChunk is the size of the writes install makes: a container
// engine extracting an image layer copies each file through a 32 KiB
// buffer (Go's io.Copy, and the engines' own buffer pools).
const installChunk = 32 << 10

// install copies the program at src into dir as an image layer's
// extraction writes it, in sequential writes of installChunk bytes, and
// returns the copy's path.
//
// How a binary was written decides how the kernel caches it, and that moves
// every start of it. The Go linker writes its output through a memory
// mapping, which leaves the file in the page cache as single 4 KiB pages;
// sequential writes leave it in larger blocks (folios: 32 KiB writes give
// 32 KiB folios on this kernel's ext4). A process maps its binary page by
// page around each fault and unmaps it at exit, and both cost less per
// page in larger folios: tend straight from `go build` starts about
// 0.4 ms slower here than the same bytes copied. A user runs the copy an
// image layer holds, never the linker's output, so every Go program
// measured here is a copy; tend as the linker wrote it is timed beside it.
func install(dir, src string) string {
	data, err := os.ReadFile(src)
	check(err)
	dst := filepath.Join(dir, strings.TrimPrefix(filepath.Base(src), "built-"))
	if dst == src {
		dst += "-installed"
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	check(err)
	for len(data) > 0 {
		n := min(len(data), installChunk)
		_, err := f.Write(data[:n])
		check(err)
		data = data[n:]
	}
	check(f.Close())
	return dst
}

func main() {
	tendBin := flag.String("tend", "bin/tend", "the tend binary to measure (static and stripped, from make build)")
	jsonDir := flag.String("json", "", "directory for hyperfine's JSON export (default: a temporary directory)")
	runs := flag.Int("runs", 300, "hyperfine runs per command, over all rounds")
	rounds := flag.Int("rounds", 5, "hyperfine calls the runs are split into, commands in another order each time")
	fifo := flag.Bool("fifo", false, "run hyperfine and the commands in the real-time FIFO class (chrt -f 50; needs root), ahead of other work on a shared machine")
	other := flag.String("against", "", "instead of the tables, time `tend -- true` of -tend against this other build, one start of each in turn")
	pairs := flag.Int("pairs", 2000, "with -against: starts of each build")
	flag.Parse()

	if *other != "" && *pairs < 10 {
		fail("-pairs %d: want at least 10", *pairs)
	}
	built, err := filepath.Abs(*tendBin)
	check(err)
	if _, err := os.Stat(built); err != nil {
		fail("%s: %v (run make build first)", built, err)
	}
	truePath, err := exec.LookPath("true")
	check(err)
	sleepPath, err := exec.LookPath("sleep")
	check(err)

	// tend reads its settings from the environment: give it a private
	// control socket and no conf.d, so the figures are of tend alone.
	scratch, err := os.MkdirTemp("", "tend-bench-")
	check(err)
	defer os.RemoveAll(scratch)
	check(os.Setenv("TEND_CONFIG_DIR", scratch))
	check(os.Setenv("TEND_SOCKET", filepath.Join(scratch, "tend.sock")))
	if *jsonDir == "" {
		*jsonDir = scratch
	}
	if *other != "" {
		// One start at a time, timed here: no hyperfine.
		b, err := filepath.Abs(*other)
		check(err)
		against(scratch, built, b, truePath, *pairs)
		return
	}
	hyperfine, err := exec.LookPath("hyperfine")
	if err != nil {
		fail("hyperfine is not installed (apt-get install hyperfine)")
	}
	var prefix []string // what hyperfine runs under
	if *fifo {
		chrt, err := exec.LookPath("chrt")
		if err != nil {
			fail("-fifo: chrt is not installed (util-linux)")
		}
		prefix = []string{chrt, "-f", "50"}
	}
	// tend is measured as an image would hold it (see install), and as
	// the linker wrote it.
	tend := install(scratch, built)

	type peer struct {
		name string
		argv []string // wraps a command: argv + cmd
	}
	peers := []peer{{"tend", []string{tend, "--"}}}
	if p, err := exec.LookPath("tini"); err == nil {
		peers = append(peers, peer{"tini", []string{p, "--"}})
	}
	if p, err := exec.LookPath("dumb-init"); err == nil {
		peers = append(peers, peer{"dumb-init", []string{p}})
	}

	fmt.Printf("# tend start-up, idle memory and size (%s, %s)\n\n", time.Now().Format("2006-01-02 15:04"), kernel())

	// Start-up.
	// An empty Go program, built as tend is, starts and exits the Go
	// runtime and nothing else: the floor under any Go program. `tend
	// version` adds tend's binary (its size, its packages' initialisation).
	// The programs under imports/ link what tend links and do nothing:
	// what each package set costs a start, before main. gorunstrue forks,
	// executes and waits for true with the raw system calls: the floor
	// under `tend -- true` for any Go program. pid1floor links tend's
	// packages and does what tini does (with -no-handlers, all but the
	// signal handlers): the floor under `tend -- true` for tend's packages
	// and its handlers, whatever tend's own steps cost.
	pid1floor := buildGo(scratch, "pid1floor")
	names := []string{"true", "empty Go program", "Go + crypto/tls", "Go + crypto/tls, net/http", "Go + all tend imports", "tend version", "Go runs true", floorNoHandlers, floorHandlers}
	cmds := []string{truePath, buildGo(scratch, "emptygo"), buildGo(scratch, "imports/tls"), buildGo(scratch, "imports/http"), buildGo(scratch, "imports/libs"), tend + " version", buildGo(scratch, "gorunstrue") + " " + truePath,
		pid1floor + " -no-handlers " + truePath, pid1floor + " " + truePath}
	for _, p := range peers {
		// The name as the command reads: "tend -- true", "dumb-init true".
		names = append(names, strings.Join(append([]string{p.name}, p.argv[1:]...), " ")+" true")
		cmds = append(cmds, strings.Join(append(append([]string{}, p.argv...), truePath), " "))
	}
	names = append(names, tendAsBuilt)
	cmds = append(cmds, built+" -- "+truePath)
	if *rounds < 1 || *runs < 2**rounds {
		fail("-runs %d -rounds %d: want at least one round of at least 2 runs", *runs, *rounds)
	}
	all := map[string][]float64{}
	for round := 0; round < *rounds; round++ {
		export := filepath.Join(*jsonDir, fmt.Sprintf("startup-%d.json", round+1))
		args := []string{"-N", "--warmup", "20", "--runs", strconv.Itoa(*runs / *rounds), "--export-json", export, "--style", "none"}
		for k := range cmds {
			i := (k + round) % len(cmds)
			args = append(args, "-n", names[i], cmds[i])
		}
		argv := append(append(append([]string{}, prefix...), hyperfine), args...)
		hf := exec.Command(argv[0], argv[1:]...)
		hf.Stderr = os.Stderr
		if out, err := hf.Output(); err != nil {
			fail("hyperfine: %v\n%s", err, out)
		}
		for name, times := range readHyperfine(export) {
			all[name] = append(all[name], times...)
		}
	}
	results := map[string]hyperfineResult{}
	for name, times := range all {
		results[name] = summarize(times)
	}
	base := results["true"]
	tini, haveTini := results["tini -- true"]
	class := ""
	if *fifo {
		class = ", real-time FIFO class"
	}
	fmt.Printf("## start-up: wrapper -- true (hyperfine -N, warm-up 20, %d runs in %d interleaved rounds%s)\n", *runs / *rounds * *rounds, *rounds, class)
	fmt.Println()
	fmt.Println("| command | mean | ± sd | median | min | overhead vs true (medians) | vs tini (medians) |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, n := range names {
		r := results[n]
		vsTini := "-"
		if haveTini {
			vsTini = fmt.Sprintf("%+.2f ms (%.2fx)", ms(r.Median-tini.Median), r.Median/tini.Median)
		}
		fmt.Printf("| %s | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %+.2f ms (%.2fx) | %s |\n",
			n, ms(r.Mean), ms(r.Stddev), ms(r.Median), ms(r.Min), ms(r.Median-base.Median), r.Median/base.Median, vsTini)
	}
	if haveTini {
		d := ms(results["tend -- true"].Median - tini.Median)
		fmt.Printf("\ntend vs tini: %+.2f ms per start, medians (target: within 2 ms) -> %s\n", d, verdict(d <= 2))
		fmt.Printf("of which the Go runtime's start and exit (empty Go program vs tini): %+.2f ms\n", ms(results["empty Go program"].Median-tini.Median))
		fmt.Printf("and tend's binary, before main (tend version vs empty Go program): %+.2f ms\n", ms(results["tend version"].Median-results["empty Go program"].Median))
		fmt.Printf("  of which crypto/tls (Go + crypto/tls vs empty Go program): %+.2f ms\n", ms(results["Go + crypto/tls"].Median-results["empty Go program"].Median))
		fmt.Printf("  net/http on top (Go + crypto/tls, net/http vs Go + crypto/tls): %+.2f ms\n", ms(results["Go + crypto/tls, net/http"].Median-results["Go + crypto/tls"].Median))
		fmt.Printf("  the rest of tend's imports (Go + all tend imports vs Go + crypto/tls, net/http): %+.2f ms\n", ms(results["Go + all tend imports"].Median-results["Go + crypto/tls, net/http"].Median))
		fmt.Printf("  tend's own packages (tend version vs Go + all tend imports): %+.2f ms\n", ms(results["tend version"].Median-results["Go + all tend imports"].Median))
		fmt.Printf("tend's own work (tend -- true vs tend version): %+.2f ms\n", ms(results["tend -- true"].Median-results["tend version"].Median))
		fmt.Printf("the floor for any Go program (Go runs true vs tini): %+.2f ms; tend above it: %+.2f ms\n", ms(results["Go runs true"].Median-tini.Median), ms(results["tend -- true"].Median-results["Go runs true"].Median))
		floor := ms(results[floorHandlers].Median - tini.Median)
		fmt.Printf("the floor for tend's packages and handlers (%s vs tini): %+.2f ms -> %s\n", floorHandlers, floor, floorVerdict(floor))
		fmt.Printf("  of which the signal handlers (%s vs %s): %+.2f ms\n", floorHandlers, floorNoHandlers, ms(results[floorHandlers].Median-results[floorNoHandlers].Median))
		fmt.Printf("tend's own steps above that floor (tend -- true vs %s): %+.2f ms\n", floorHandlers, ms(results["tend -- true"].Median-results[floorHandlers].Median))
		fmt.Printf("%s vs tini: %+.2f ms (the same bytes, cached as the linker's memory-mapped writes leave them)\n", tendAsBuilt, ms(results[tendAsBuilt].Median-tini.Median))
	}
	fmt.Printf("hyperfine JSON: %s/startup-*.json\n\n", *jsonDir)

	// What each start costs the kernel: the page faults (on a virtual
	// machine each can take tens of microseconds), context switches and
	// CPU time of the command and its children, from wait4's rusage.
	fmt.Println("## start-up: page faults, context switches and CPU per start (wait4 rusage, medians of 50 runs)")
	fmt.Println()
	fmt.Println("| command | page faults | context switches | CPU (user+sys) |")
	fmt.Println("| --- | ---: | ---: | ---: |")
	for i, n := range names {
		u := usage(strings.Fields(cmds[i]), 50)
		fmt.Printf("| %s | %d | %d | %.2f ms |\n", n, u.faults, u.switches, ms(u.cpu.Seconds()))
	}
	fmt.Println()

	// Idle memory.
	fmt.Println("## idle memory: VmRSS 1 s after start, main program `sleep 30`")
	fmt.Println()
	fmt.Println("| wrapper | VmRSS | VmHWM | threads |")
	fmt.Println("| --- | ---: | ---: | ---: |")
	var tendRSS int64
	for _, p := range peers {
		st := idle(append(append([]string{}, p.argv...), sleepPath, "30"))
		if p.name == "tend" {
			tendRSS = st.rss
		}
		fmt.Printf("| %s | %s | %s | %d |\n", p.name, kib(st.rss), kib(st.hwm), st.threads)
	}
	fmt.Printf("\ntend idle RSS: %s (target: at most 8 MiB) -> %s\n\n", kib(tendRSS), verdict(tendRSS <= 8<<10))

	// Size.
	fi, err := os.Stat(tend)
	check(err)
	fmt.Println("## binary size")
	fmt.Println()
	fmt.Printf("%s: %.2f MiB (%d bytes) -> %s (target: at most 8 MiB)\n", *tendBin, float64(fi.Size())/(1<<20), fi.Size(), verdict(fi.Size() <= 8<<20))
	for _, p := range peers[1:] {
		if fi, err := os.Stat(p.argv[0]); err == nil {
			fmt.Printf("%s: %.2f MiB\n", p.argv[0], float64(fi.Size())/(1<<20))
		}
	}
	fmt.Println()
	dependencyCost()
}

// tendAsBuilt names the run of tend from the file the linker wrote, not
// from its installed copy (see install).
const tendAsBuilt = "tend -- true, as the linker wrote it"

// The two floors built from tend's packages (bench/startup/pid1floor).
const (
	floorNoHandlers = "tend's packages run true"
	floorHandlers   = "tend's packages + handlers run true"
)

// floorVerdict says what the floor of tend's packages and handlers, in ms
// over tini, leaves of the 2 ms target for tend's own steps.
func floorVerdict(floor float64) string {
	if floor >= 2 {
		return "the 2 ms target is out of reach of tend's own steps"
	}
	return fmt.Sprintf("%.2f ms of the 2 ms target left for tend's own steps", 2-floor)
}

// hyperfineResult is the figures of one command (seconds).
type hyperfineResult struct {
	Mean, Stddev, Median, Min, Max float64
}

// readHyperfine returns every run's time (seconds) by command from
// hyperfine's JSON export.
func readHyperfine(path string) map[string][]float64 {
	data, err := os.ReadFile(path)
	check(err)
	var doc struct {
		Results []struct {
			Command string    `json:"command"`
			Times   []float64 `json:"times"`
		} `json:"results"`
	}
	check(json.Unmarshal(data, &doc))
	out := map[string][]float64{}
	for _, r := range doc.Results {
		out[r.Command] = r.Times
	}
	return out
}

// summarize computes the figures of a command over all its runs.
func summarize(times []float64) hyperfineResult {
	sorted := append([]float64(nil), times...)
	sort.Float64s(sorted)
	var sum float64
	for _, t := range sorted {
		sum += t
	}
	mean := sum / float64(len(sorted))
	var sq float64
	for _, t := range sorted {
		sq += (t - mean) * (t - mean)
	}
	median := sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		median = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	}
	return hyperfineResult{
		Mean:   mean,
		Stddev: math.Sqrt(sq / float64(max(1, len(sorted)-1))),
		Median: median,
		Min:    sorted[0],
		Max:    sorted[len(sorted)-1],
	}
}

// startUsage is what one start of a command cost, from wait4's rusage.
type startUsage struct {
	faults, switches int64
	cpu              time.Duration
}

// usage runs argv n times (output to /dev/null) and returns the median of
// each figure.
func usage(argv []string, n int) startUsage {
	var faults, switches []int64
	var cpus []time.Duration
	for range n {
		cmd := exec.Command(argv[0], argv[1:]...)
		check(cmd.Run())
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		faults = append(faults, ru.Minflt+ru.Majflt)
		switches = append(switches, ru.Nvcsw+ru.Nivcsw)
		cpus = append(cpus, time.Duration(ru.Utime.Nano()+ru.Stime.Nano()))
	}
	return startUsage{faults: median(faults), switches: median(switches), cpu: median(cpus)}
}

func median[T int64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// idleStats is what /proc/PID/status says about an idle wrapper.
type idleStats struct {
	rss, hwm int64 // KiB
	threads  int
}

// idle starts argv, waits one second, reads its memory, and kills it.
func idle(argv []string) idleStats {
	cmd := exec.Command(argv[0], argv[1:]...)
	check(cmd.Start())
	defer func() {
		// TERM, which every wrapper passes on to the sleeping program.
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	time.Sleep(time.Second)
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	check(err)
	defer f.Close()
	var st idleStats
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch k {
		case "VmRSS":
			st.rss = n
		case "VmHWM":
			st.hwm = n
		case "Threads":
			st.threads = int(n)
		}
	}
	return st
}

// dependencyCost builds tend without stripping and sums the sizes of its
// symbols by module and by package: a measure of what each dependency
// adds to the binary (metadata such as pclntab and type links is left
// out, so the sums are below the file size).
func dependencyCost() {
	dir, err := os.MkdirTemp("", "tend-size-")
	check(err)
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "tend")
	build := exec.Command("go", "build", "-trimpath", "-tags", buildTags, "-o", bin, "./cmd/tend")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Printf("(dependency sizes unavailable: go build: %v\n%s)\n", err, out)
		return
	}
	f, err := elf.Open(bin)
	if err != nil {
		fmt.Printf("(dependency sizes unavailable: %v)\n", err)
		return
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		fmt.Printf("(dependency sizes unavailable: %v)\n", err)
		return
	}
	byModule, byPackage := map[string]int64{}, map[string]int64{}
	var total int64
	for _, sym := range syms {
		// Count what takes room in the file: symbols in sections with
		// contents, not bss (zeroed memory at start).
		if sym.Section == elf.SHN_UNDEF || int(sym.Section) >= len(f.Sections) || sym.Size == 0 {
			continue
		}
		if sec := f.Sections[sym.Section]; sec.Type == elf.SHT_NOBITS || sec.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		size := int64(sym.Size)
		pkg := symbolPackage(sym.Name)
		byPackage[pkg] += size
		byModule[module(pkg)] += size
		total += size
	}
	fmt.Println("## what each dependency adds (symbol bytes in an unstripped build, by module)")
	fmt.Println()
	fmt.Println("| module | size | share |")
	fmt.Println("| --- | ---: | ---: |")
	for _, k := range sortedBySize(byModule) {
		fmt.Printf("| %s | %s | %.1f%% |\n", k, kib(byModule[k]/1024), 100*float64(byModule[k])/float64(total))
	}
	fmt.Println()
	fmt.Println("largest packages:")
	fmt.Println()
	fmt.Println("| package | size |")
	fmt.Println("| --- | ---: |")
	for i, k := range sortedBySize(byPackage) {
		if i == 20 {
			break
		}
		fmt.Printf("| %s | %s |\n", k, kib(byPackage[k]/1024))
	}
}

// symbolPackage returns the import path of the package a symbol belongs
// to, such as "go.uber.org/zap/zapcore" for
// "go.uber.org/zap/zapcore.(*jsonEncoder).AppendString". Type
// descriptors, itabs and generic instances count for the package of the
// type or function they are named after.
func symbolPackage(sym string) string {
	for _, prefix := range []string{"type:", "go:itab.", ".eq.", ".hash.", ".dict.", ".gcmask."} {
		sym = strings.TrimPrefix(sym, prefix)
	}
	sym = strings.TrimLeft(sym, "*[]0123456789")
	if strings.HasPrefix(sym, "go:") || strings.HasPrefix(sym, "map[") || strings.HasPrefix(sym, "struct {") ||
		strings.HasPrefix(sym, "func(") || strings.HasPrefix(sym, "interface {") || sym == "" {
		return "(runtime data)"
	}
	// Cut generic arguments and the interface half of an itab.
	if i := strings.IndexAny(sym, "[, "); i >= 0 {
		sym = sym[:i]
	}
	slash := strings.LastIndexByte(sym, '/')
	dot := strings.IndexByte(sym[slash+1:], '.')
	if dot < 0 {
		return "(runtime data)"
	}
	return sym[:slash+1+dot]
}

// module groups a package: tend's own, each third-party module, or the
// standard library.
func module(pkg string) string {
	switch {
	case pkg == "main" || strings.HasPrefix(pkg, "tend/"):
		return "tend (own code)"
	case strings.HasPrefix(pkg, "go.uber.org/zap"):
		return "go.uber.org/zap"
	case strings.HasPrefix(pkg, "go.uber.org/multierr"):
		return "go.uber.org/multierr"
	case strings.HasPrefix(pkg, "golang.org/x/sys"):
		return "golang.org/x/sys"
	case strings.HasPrefix(pkg, "net") || strings.HasPrefix(pkg, "crypto") || strings.HasPrefix(pkg, "vendor/golang.org/x/net") || strings.HasPrefix(pkg, "vendor/golang.org/x/crypto"):
		return "std: net, net/http, crypto"
	case strings.HasPrefix(pkg, "("):
		return pkg
	}
	first, _, _ := strings.Cut(pkg, "/")
	if strings.Contains(first, ".") {
		return first
	}
	return "std: the rest (runtime, reflect, fmt, ...)"
}

func sortedBySize(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
	return keys
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown kernel"
	}
	return "Linux " + strings.TrimSpace(string(b))
}

func ms(sec float64) float64 { return sec * 1000 }

func kib(n int64) string {
	if n >= 1024 {
		return fmt.Sprintf("%.2f MiB", float64(n)/1024)
	}
	return fmt.Sprintf("%d KiB", n)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "startup: "+format+"\n", args...)
	os.Exit(1)
}

package resources

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
)

// jvmDefaultMaxHeap is HotSpot's built-in MaxHeapSize on 64-bit Linux
// (96 MiB scaled for the word size, aligned). JDK 17's ergonomics never
// size the heap below it unless memory is small; see javaHeapFor.
const jvmDefaultMaxHeap = 126 << 20

// nonHeapFloor is the least memory a JVM needs outside its heap
// (metaspace, thread stacks, code cache, GC structures, direct buffers)
// for a typical service; a quarter of the limit is kept when that is more.
const nonHeapFloor = 150 << 20

// nonHeapAllowance is the memory to keep outside the heap under limit.
func nonHeapAllowance(limit int64) int64 { return max(limit/4, nonHeapFloor) }

// JavaOptions returns JVM flags sized to the container's limits, for
// JAVA_TOOL_OPTIONS. JDK 17 already sees cgroup limits, but by default it
// takes only a quarter of the memory limit for the heap; in a container
// that runs one service the heap can take most of it. existing holds the
// options already given (JAVA_TOOL_OPTIONS, the command line): a heap size
// set there is kept.
//
// The heap gets what the limit leaves after the non-heap allowance that
// OOMAdvice also uses (a quarter of the limit, at least 150 MiB), between
// 25 % and 75 % of the limit, so tend never sizes a JVM that its own OOM
// advice would call too large.
func JavaOptions(l Limits, existing string) []string {
	var opts []string
	if l.MemoryBytes > 0 && !setsJavaHeap(existing) {
		pct := javaHeapPercent(l.MemoryBytes)
		flag := fmt.Sprintf("-XX:MaxRAMPercentage=%.1f", pct)
		opts = append(opts, flag)
		// Below about 250 MiB the JVM takes MinRAMPercentage of the
		// memory and ignores MaxRAMPercentage; above it, it never goes
		// below its built-in 126 MiB. Setting both makes the share hold.
		want := int64(float64(l.MemoryBytes) * pct / 100)
		if got := javaHeapFor(l.MemoryBytes, "", jvmFlagsFrom([]string{flag})).MaxBytes; got != want && !strings.Contains(existing, "MinRAM") {
			opts = append(opts, fmt.Sprintf("-XX:MinRAMPercentage=%.1f", pct))
		}
	}
	if l.CPUs > 0 && !strings.Contains(existing, "ActiveProcessorCount") {
		opts = append(opts, fmt.Sprintf("-XX:ActiveProcessorCount=%d", int(math.Max(1, math.Ceil(l.CPUs)))))
	}
	if !strings.Contains(existing, "OutOfMemoryError") {
		// A JVM that survives an OutOfMemoryError often limps on without
		// working; exiting lets tend restart it or the platform replace it.
		opts = append(opts, "-XX:+ExitOnOutOfMemoryError")
	}
	return opts
}

// JavaAutotune is what TEND_JAVA_AUTOTUNE adds to the main program's
// environment: JAVA_TOOL_OPTIONS with the JavaOptions for limits after
// the options the program already has. argv is the main program's command
// and env the environment it would get without autotune (tend's, then its
// own variables; the last entry of a name wins). Options given in either
// are kept (a heap size set there stays). It returns nil when there is
// nothing to add; the result goes to the main program only, never to side
// programs: a heap sized to the whole container is right only for the one
// service it runs.
func JavaAutotune(argv, env []string, l Limits) []string {
	existing := envValue(env, "JAVA_TOOL_OPTIONS")
	opts := JavaOptions(l, existing+" "+strings.Join(argv, " "))
	if len(opts) == 0 {
		return nil
	}
	return []string{"JAVA_TOOL_OPTIONS=" + strings.TrimSpace(existing+" "+strings.Join(opts, " "))}
}

// setsJavaHeap reports whether options already size the heap.
func setsJavaHeap(options string) bool {
	for _, s := range []string{"-Xmx", "MaxHeapSize", "MaxRAMPercentage", "MaxRAMFraction", "-XX:MaxRAM="} {
		if strings.Contains(options, s) {
			return true
		}
	}
	return false
}

// javaHeapPercent is the share of limit, in percent rounded down to a
// tenth, that leaves the non-heap allowance free, kept within 25 to 75.
func javaHeapPercent(limit int64) float64 {
	pct := 100 * float64(limit-nonHeapAllowance(limit)) / float64(limit)
	return math.Max(25, math.Min(75, math.Floor(pct*10)/10))
}

// JavaHeap is the most heap a JVM may take, worked out from its options
// as JDK 17's ergonomics do (to within the JVM's alignment of a few MiB).
type JavaHeap struct {
	// MaxBytes is the maximum heap size (0: unknown).
	MaxBytes int64 `json:"max_bytes"`
	// MemoryBytes is the memory the JVM sizes itself against: the
	// container's limit, -XX:MaxRAM, or the machine's memory.
	MemoryBytes int64 `json:"memory_bytes"`
	// Flag is the option (or the JVM's default) that sets the heap, such
	// as "-Xmx512m" or "-XX:MaxRAMPercentage=75".
	Flag string `json:"flag"`
	// From says how the heap follows from Flag and the memory, such as
	// "-XX:MaxRAMPercentage=75 of the 1.0GiB limit".
	From string `json:"from"`
	// Explicit is true when -Xmx or -XX:MaxHeapSize sets it.
	Explicit bool `json:"explicit"`
}

// JavaMaxHeap works out the heap limit of the JVM that argv starts, with
// environment env (JAVA_TOOL_OPTIONS, JDK_JAVA_OPTIONS and _JAVA_OPTIONS
// are read, in the JVM's order), in a cgroup whose memory limit is
// limitBytes (0: none; hostBytes is then what the JVM sees). ok is false
// when argv does not start java: the java command may follow a wrapper
// (env, tini, a shell's -c script), but a start script that runs java
// itself is not read.
func JavaMaxHeap(argv, env []string, limitBytes, hostBytes int64) (heap JavaHeap, ok bool) {
	cmdline, ok := javaCommandOptions(argv)
	if !ok {
		return JavaHeap{}, false
	}
	var opts []string
	opts = append(opts, strings.Fields(envValue(env, "JAVA_TOOL_OPTIONS"))...)
	opts = append(opts, strings.Fields(envValue(env, "JDK_JAVA_OPTIONS"))...)
	opts = append(opts, cmdline...)
	opts = append(opts, strings.Fields(envValue(env, "_JAVA_OPTIONS"))...)
	f := jvmFlagsFrom(opts)
	if limitBytes > 0 && f.containerSupport {
		return javaHeapFor(limitBytes, "the "+human(limitBytes)+" limit", f), true
	}
	return javaHeapFor(hostBytes, "the machine's "+human(hostBytes), f), true
}

// jvmFlags are the options that decide the heap size; "" or 0: not given.
type jvmFlags struct {
	maxHeap          int64
	maxHeapFlag      string
	maxRAM           int64
	maxRAMPct        float64
	maxRAMPctFlag    string
	minRAMPct        float64
	minRAMPctFlag    string
	maxRAMFrac       float64
	maxRAMFracFlag   string
	minRAMFrac       float64
	minRAMFracFlag   string
	containerSupport bool
}

// jvmFlagsFrom reads the heap options from opts; a later option wins, as
// in the JVM.
func jvmFlagsFrom(opts []string) jvmFlags {
	f := jvmFlags{containerSupport: true}
	for _, o := range opts {
		o = strings.Trim(o, `"'`)
		name, val, _ := strings.Cut(strings.TrimPrefix(o, "-XX:"), "=")
		switch {
		case strings.HasPrefix(o, "-Xmx"):
			if n, ok := parseJavaSize(o[len("-Xmx"):]); ok {
				f.maxHeap, f.maxHeapFlag = n, o
			}
		case !strings.HasPrefix(o, "-XX:"):
		case name == "MaxHeapSize":
			if n, ok := parseJavaSize(val); ok {
				f.maxHeap, f.maxHeapFlag = n, o
			}
		case name == "MaxRAM":
			if n, ok := parseJavaSize(val); ok {
				f.maxRAM = n
			}
		case name == "MaxRAMPercentage":
			if p, err := strconv.ParseFloat(val, 64); err == nil {
				f.maxRAMPct, f.maxRAMPctFlag = p, o
			}
		case name == "MinRAMPercentage":
			if p, err := strconv.ParseFloat(val, 64); err == nil {
				f.minRAMPct, f.minRAMPctFlag = p, o
			}
		case name == "MaxRAMFraction":
			if n, err := strconv.ParseFloat(val, 64); err == nil && n > 0 {
				f.maxRAMFrac, f.maxRAMFracFlag = n, o
			}
		case name == "MinRAMFraction":
			if n, err := strconv.ParseFloat(val, 64); err == nil && n > 0 {
				f.minRAMFrac, f.minRAMFracFlag = n, o
			}
		case o == "-XX:-UseContainerSupport":
			f.containerSupport = false
		case o == "-XX:+UseContainerSupport":
			f.containerSupport = true
		}
	}
	return f
}

// javaHeapFor is JDK 17's Arguments::set_heap_size for a machine (or
// container) with mem bytes of memory: an explicit heap size wins; else
// MaxRAMPercentage (25) of the memory, but never below the built-in
// 126 MiB, except where memory is small: when MinRAMPercentage (50) of it
// is under 126 MiB, that share is the heap.
func javaHeapFor(mem int64, memName string, f jvmFlags) JavaHeap {
	if f.maxHeap > 0 {
		return JavaHeap{MaxBytes: f.maxHeap, MemoryBytes: mem, Flag: f.maxHeapFlag, From: f.maxHeapFlag, Explicit: true}
	}
	if f.maxRAM > 0 {
		mem, memName = f.maxRAM, "-XX:MaxRAM="+human(f.maxRAM)
	}
	if mem <= 0 {
		return JavaHeap{From: "unknown: no memory size"}
	}
	// The deprecated fractions count only where no percentage is given,
	// wherever they stand.
	maxPct, maxFrom := 25.0, "default MaxRAMPercentage=25"
	switch {
	case f.maxRAMPctFlag != "":
		maxPct, maxFrom = f.maxRAMPct, f.maxRAMPctFlag
	case f.maxRAMFracFlag != "":
		maxPct, maxFrom = 100/f.maxRAMFrac, f.maxRAMFracFlag
	}
	minPct, minFrom := 50.0, "default MinRAMPercentage=50"
	switch {
	case f.minRAMPctFlag != "":
		minPct, minFrom = f.minRAMPct, f.minRAMPctFlag
	case f.minRAMFracFlag != "":
		minPct, minFrom = 100/f.minRAMFrac, f.minRAMFracFlag
	}
	h := JavaHeap{MemoryBytes: mem}
	reasonableMax := int64(float64(mem) * maxPct / 100)
	reasonableMin := int64(float64(mem) * minPct / 100)
	switch {
	case reasonableMin < jvmDefaultMaxHeap:
		h.MaxBytes, h.Flag = reasonableMin, minFrom
		h.From = fmt.Sprintf("%s of %s (the JVM reads MinRAMPercentage for small memory)", minFrom, memName)
	case reasonableMax < jvmDefaultMaxHeap:
		h.MaxBytes, h.Flag = jvmDefaultMaxHeap, "the JVM's 126MiB floor"
		h.From = fmt.Sprintf("the JVM's 126MiB floor (%s of %s is less)", maxFrom, memName)
	default:
		h.MaxBytes, h.Flag = reasonableMax, maxFrom
		h.From = fmt.Sprintf("%s of %s", maxFrom, memName)
	}
	return h
}

// parseJavaSize reads a JVM size: digits with an optional k, m, g or t.
func parseJavaSize(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	mult := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	case 't', 'T':
		mult = 1 << 40
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		return 0, false
	}
	return n * mult, true
}

// javaValueOptions are the java launcher's options whose value is the
// next argument.
var javaValueOptions = map[string]bool{
	"-cp": true, "-classpath": true, "--class-path": true,
	"-p": true, "--module-path": true, "--upgrade-module-path": true,
	"--add-modules": true, "--limit-modules": true, "--add-reads": true,
	"--add-exports": true, "--add-opens": true, "--patch-module": true,
	"--enable-native-access": true, "--source": true,
}

// javaCommandOptions finds the java command in argv, behind wrappers or
// in a shell's -c script, and returns the options before its main class.
func javaCommandOptions(argv []string) ([]string, bool) {
	var words []string
	for _, a := range argv {
		// An argument with spaces is a shell script (sh -c "exec java
		// ..."): its words are read as arguments.
		words = append(words, strings.Fields(a)...)
	}
	for i, w := range words {
		if filepath.Base(strings.Trim(w, `"'`)) != "java" {
			continue
		}
		var opts []string
		for j := i + 1; j < len(words); j++ {
			o := strings.Trim(words[j], `"'`)
			if !strings.HasPrefix(o, "-") || o == "-jar" || o == "-m" || o == "--module" {
				break
			}
			opts = append(opts, o)
			if javaValueOptions[o] {
				j++
			}
		}
		return opts, true
	}
	return nil, false
}

// envValue returns the value of key in env ("": unset).
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if rest, ok := strings.CutPrefix(kv, key+"="); ok {
			v = rest
		}
	}
	return v
}

package resources

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// requireJava skips the test without a java command, or fails it in CI.
func requireJava(t *testing.T) string {
	t.Helper()
	java, err := exec.LookPath("java")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but this test needs java in PATH")
		}
		t.Skip("this test needs java in PATH")
	}
	return java
}

// jvmMaxHeap asks the JVM which MaxHeapSize it settles on with options
// and JAVA_TOOL_OPTIONS set to toolOptions.
func jvmMaxHeap(t *testing.T, java, toolOptions string, options ...string) int64 {
	t.Helper()
	cmd := exec.Command(java, append(append([]string{}, options...), "-XX:+PrintFlagsFinal", "-version")...)
	cmd.Env = append(os.Environ(), "JAVA_TOOL_OPTIONS="+toolOptions)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[1] == "MaxHeapSize" {
			n, err := strconv.ParseInt(f[3], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no MaxHeapSize in the JVM's flags:\n%s", out)
	return 0
}

// The heap tend works out is the heap the JVM takes, for the flags that
// size it, in memory of every size class (small memory uses
// MinRAMPercentage, mid-size memory the 126 MiB floor, large memory
// MaxRAMPercentage). -XX:MaxRAM stands in for the container's limit.
func TestJavaMaxHeapIsWhatTheJVMTakes(t *testing.T) {
	java := requireJava(t)
	cases := []struct {
		options, toolOptions string
	}{
		{"-XX:MaxRAM=64m", ""},
		{"-XX:MaxRAM=200m -XX:MaxRAMPercentage=80", ""},
		{"-XX:MaxRAM=300m", ""},
		{"-XX:MaxRAM=256m -XX:MaxRAMPercentage=41.4", ""},
		{"-XX:MaxRAM=256m -XX:MaxRAMPercentage=41.4 -XX:MinRAMPercentage=41.4", ""},
		{"-XX:MaxRAM=1g", ""},
		{"-XX:MaxRAM=1g -XX:MaxRAMFraction=2", ""},
		{"-XX:MaxRAMPercentage=75 -XX:MaxRAMFraction=2", "-XX:MaxRAM=1g"},
		{"-XX:MaxRAM=1000m -XX:MinRAMPercentage=5", "-XX:MaxRAMPercentage=75"},
		{"-XX:MaxRAM=3g -XX:MaxRAMPercentage=75", ""},
		{"-Xmx300m", "-Xmx100m"},
		{"-XX:MaxHeapSize=1001m", ""},
		{"-Xmx1000001k", ""},
	}
	for _, c := range cases {
		options := strings.Fields(c.options)
		want := jvmMaxHeap(t, java, c.toolOptions, options...)
		argv := append(append([]string{"java"}, options...), "-jar", "app.jar", "-Xmx1g")
		heap, ok := JavaMaxHeap(argv, []string{"JAVA_TOOL_OPTIONS=" + c.toolOptions}, 0, 8<<30)
		if !ok {
			t.Fatalf("%v is not read as a JVM", argv)
		}
		// The JVM aligns the heap up to its region size: within 2 MiB.
		if d := heap.MaxBytes - want; d > 0 || d < -2<<20 {
			t.Errorf("%s (JAVA_TOOL_OPTIONS=%q): heap %d (%s), the JVM takes %d", c.options, c.toolOptions, heap.MaxBytes, heap.From, want)
		}
	}
}

func TestJavaMaxHeapFindsJavaBehindWrappersAndInEnv(t *testing.T) {
	const limit = 1 << 30
	cases := []struct {
		argv []string
		env  []string
		want int64
		from string
	}{
		{[]string{"/usr/bin/java", "-cp", "-Xmx1m", "Main"}, nil, 256 << 20, "default MaxRAMPercentage=25 of the 1.0GiB limit"},
		{[]string{"sh", "-c", "exec java -Xmx512m -jar app.jar"}, nil, 512 << 20, "-Xmx512m"},
		{[]string{"tini", "--", "java", "-jar", "app.jar", "-Xmx2g"}, []string{"JAVA_TOOL_OPTIONS=-XX:MaxRAMPercentage=75"}, 768 << 20, "-XX:MaxRAMPercentage=75"},
		{[]string{"java", "-Xmx100m", "Main"}, []string{"_JAVA_OPTIONS=-Xmx200m"}, 200 << 20, "-Xmx200m"},
		{[]string{"java", "-Xmx100m", "Main"}, []string{"JDK_JAVA_OPTIONS=-Xmx200m"}, 100 << 20, "-Xmx100m"},
		{[]string{"java", "-XX:-UseContainerSupport", "Main"}, nil, 2 << 30, "of the machine's 8.0GiB"},
	}
	for _, c := range cases {
		heap, ok := JavaMaxHeap(c.argv, c.env, limit, 8<<30)
		if !ok || heap.MaxBytes != c.want || !strings.Contains(heap.From, c.from) {
			t.Errorf("%q %q: heap %+v ok=%v, want %d from %q", c.argv, c.env, heap, ok, c.want, c.from)
		}
	}
	if _, ok := JavaMaxHeap([]string{"node", "server.js"}, nil, limit, 8<<30); ok {
		t.Error("node is read as a JVM")
	}
}

func TestJavaOptionsSizeHeapFromLimit(t *testing.T) {
	opts := strings.Join(JavaOptions(Limits{MemoryBytes: 1 << 30, CPUs: 1.5}, ""), " ")
	for _, want := range []string{"-XX:MaxRAMPercentage=75.0", "-XX:ActiveProcessorCount=2", "-XX:+ExitOnOutOfMemoryError"} {
		if !strings.Contains(opts, want) {
			t.Errorf("options %q lack %s", opts, want)
		}
	}
	if strings.Contains(opts, "MinRAMPercentage") {
		t.Errorf("options %q set MinRAMPercentage where the JVM does not read it", opts)
	}
}

func TestJavaAutotuneAppendsToTheOptionsTheMainProgramHas(t *testing.T) {
	// tend's environment, then the program's own variables: the last wins.
	env := []string{"PATH=/usr/bin", "JAVA_TOOL_OPTIONS=-Dfrom=tend", "JAVA_TOOL_OPTIONS=-Dfrom=program"}
	before := slices.Clone(env)
	got := JavaAutotune([]string{"java", "-jar", "app.jar"}, env, Limits{MemoryBytes: 1 << 30, CPUs: 2})
	want := []string{"JAVA_TOOL_OPTIONS=-Dfrom=program -XX:MaxRAMPercentage=75.0 -XX:ActiveProcessorCount=2 -XX:+ExitOnOutOfMemoryError"}
	if !slices.Equal(got, want) {
		t.Errorf("JavaAutotune = %q, want %q", got, want)
	}
	if !slices.Equal(env, before) {
		t.Errorf("JavaAutotune changed its input: %q", env)
	}
}

func TestJavaAutotuneKeepsWhatTheCommandLineSets(t *testing.T) {
	got := JavaAutotune([]string{"java", "-Xmx512m", "-XX:+ExitOnOutOfMemoryError", "-jar", "app.jar"}, nil, Limits{MemoryBytes: 1 << 30})
	if len(got) != 0 {
		t.Errorf("JavaAutotune = %q, want nothing: the command sets the heap and the OOM exit, and there is no CPU limit", got)
	}
	got = JavaAutotune([]string{"java", "-Xmx512m", "-jar", "app.jar"}, nil, Limits{MemoryBytes: 1 << 30})
	if want := []string{"JAVA_TOOL_OPTIONS=-XX:+ExitOnOutOfMemoryError"}; !slices.Equal(got, want) {
		t.Errorf("JavaAutotune = %q, want %q", got, want)
	}
}

func TestJavaOptionsKeepUserHeap(t *testing.T) {
	for _, existing := range []string{"-Xmx200m", "-XX:MaxRAMPercentage=60", "-XX:MaxHeapSize=300m", "-XX:MaxRAM=1g"} {
		opts := strings.Join(JavaOptions(Limits{MemoryBytes: 1 << 30}, existing), " ")
		if strings.Contains(opts, "RAMPercentage") {
			t.Errorf("options %q override the user's %s", opts, existing)
		}
	}
}

// The heap autotune asks for is the heap the JVM takes, and it leaves
// the non-heap allowance that OOMAdvice asks for, at every size: the
// JVM's own rules for small memory (MinRAMPercentage, the 126 MiB floor)
// would otherwise make a small container's heap larger than intended.
func TestJavaOptionsHeapIsWhatTheJVMTakesAndLeavesRoomOutsideIt(t *testing.T) {
	java := requireJava(t)
	for _, limit := range []int64{200 << 20, 256 << 20, 384 << 20, 512 << 20, 1 << 30, 4 << 30} {
		opts := JavaOptions(Limits{MemoryBytes: limit}, "")
		// -XX:MaxRAM stands in for the container's limit.
		heap := jvmMaxHeap(t, java, strings.Join(opts, " "), "-XX:MaxRAM="+strconv.FormatInt(limit, 10))
		pct := javaHeapPercent(limit)
		if want := int64(float64(limit) * pct / 100); heap < want || heap > want+2<<20 {
			t.Errorf("limit %s: options %q give a %s heap, want %.1f%% = %s", human(limit), opts, human(heap), pct, human(want))
		}
		if heap > limit-nonHeapAllowance(limit)+2<<20 {
			t.Errorf("limit %s: %s heap leaves less than %s outside it", human(limit), human(heap), human(nonHeapAllowance(limit)))
		}
		victim := &Death{Program: "main", Command: []string{"java", "Main"}, Env: []string{"JAVA_TOOL_OPTIONS=" + strings.Join(opts, " ")}}
		if advice := OOMAdvice(OOMEvent{LimitBytes: limit}, victim, 0); strings.Contains(advice, "lower") || strings.Contains(advice, "set -XX") {
			t.Errorf("limit %s: the advice for autotune's own heap is %q", human(limit), advice)
		}
	}
}

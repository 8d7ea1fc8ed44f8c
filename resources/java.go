package resources

import (
	"fmt"
	"math"
	"strings"
)

// JavaOptions returns JVM flags sized to the container's limits, for
// JAVA_TOOL_OPTIONS. JDK 17 already sees cgroup limits, but by default it
// takes only a quarter of the memory limit for the heap; in a container
// that runs one service the heap can take most of it. existing holds the
// options already given (JAVA_TOOL_OPTIONS, the command line): a heap size
// set there is kept.
func JavaOptions(l Limits, existing string) []string {
	var opts []string
	if l.MemoryBytes > 0 && !strings.Contains(existing, "-Xmx") && !strings.Contains(existing, "MaxRAMPercentage") && !strings.Contains(existing, "-XX:MaxRAM=") {
		// Leave room for metaspace, thread stacks, code cache and direct
		// buffers: more of it, in proportion, in a small container.
		pct := 75.0
		if l.MemoryBytes < 512<<20 {
			pct = 50.0
		}
		opts = append(opts, fmt.Sprintf("-XX:MaxRAMPercentage=%.1f", pct))
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

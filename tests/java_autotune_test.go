package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestJavaAutotuneReachesOnlyTheMainProgram: with TEND_JAVA_AUTOTUNE, the
// main program's JAVA_TOOL_OPTIONS gets the JVM flags after the options it
// has; a side program keeps its own.
func TestJavaAutotuneReachesOnlyTheMainProgram(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sideDone := dir + "/side-printed"
	p := startTend(t, tendOptions{
		Args: []string{"--", "sh", "-c", fmt.Sprintf(`while [ ! -e %s ]; do sleep 0.01; done; echo "main: $JAVA_TOOL_OPTIONS"`, sideDone)},
		Env: []string{
			"TEND_JAVA_AUTOTUNE=true",
			"JAVA_TOOL_OPTIONS=-Dfrom=image",
			`TEND_MAIN_ENVIRONMENT=JAVA_TOOL_OPTIONS="-Dfrom=main"`,
			"TEND_SIDE_COMMAND=" + fmt.Sprintf(`sh -c 'echo "side: $JAVA_TOOL_OPTIONS"; touch %s; exec sleep 600'`, sideDone),
		},
	})
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, p.Stderr())
	}
	out := p.Stdout()
	main, side := "", ""
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "main: "); ok {
			main = v
		}
		if v, ok := strings.CutPrefix(l, "side: "); ok {
			side = v
		}
	}
	if !strings.HasPrefix(main, "-Dfrom=main -XX:") || !strings.Contains(main, "-XX:+ExitOnOutOfMemoryError") {
		t.Errorf("main's JAVA_TOOL_OPTIONS = %q, want its own options, then the JVM flags\nstdout:\n%s", main, out)
	}
	if side != "-Dfrom=image" {
		t.Errorf("side's JAVA_TOOL_OPTIONS = %q, want tend's own (-Dfrom=image), untouched\nstdout:\n%s", side, out)
	}
}

package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBundledExampleRunsWithItsSideProgram runs what `make example` runs:
// the Java service as the main program and the agent from
// examples/java/conf.d as a side program. The agent starts only once the
// service is ready, both show in tend status, and Ctrl-C (INT) drains and
// stops them in reverse order with exit 0.
func TestBundledExampleRunsWithItsSideProgram(t *testing.T) {
	t.Parallel()
	requireJava(t)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	// The agent's command finds the classes at conf.d/../build, as in the
	// source tree after make example.
	dir := t.TempDir()
	conf, err := os.ReadFile(filepath.Join(root, "examples", "java", "conf.d", "10-agent.conf"))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "conf.d", "10-agent.conf"), conf, 0o644)
	classes := compileExampleService(t)
	if err := os.Symlink(classes, filepath.Join(dir, "build")); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	args := append(append([]string{"--", "java"}, jvmFlags...), "-cp", classes, "Hello")
	p := startTend(t, tendOptions{Args: args, Env: []string{
		"TEND_CONFIG_DIR=" + dir, "PORT=" + fmt.Sprint(port), "AGENT_INTERVAL_SECONDS=1",
		"TEND_MAIN_READY=" + fmt.Sprintf("http://127.0.0.1:%d/health", port),
		"TEND_EXIT_CODE_MAP=143:0", "TEND_LOG_FORMAT=prefix", "TEND_EVENT_LEVEL=info", "TEND_EVENT_FORMAT=json",
	}})
	st := waitStatus(t, p, 60*time.Second, "service and agent ready", func(s statusDoc) bool {
		for _, prog := range s.Programs {
			if !prog.Ready {
				return false
			}
		}
		return len(s.Programs) == 2
	})
	if st.program(t, "agent").State != "RUNNING" || !st.Ready {
		t.Fatalf("status %+v", st)
	}
	if order := startedOrder(p.Stderr()); strings.Join(order, ",") != "main,agent" {
		t.Errorf("start order %v, want the agent after the service it depends on", order)
	}
	waitFor(t, 30*time.Second, "the agent's health check", func() bool {
		return strings.Contains(p.Stdout(), "agent | ") && strings.Contains(p.Stdout(), "service health: 200")
	})
	p.Signal(syscall.SIGINT)
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Fatalf("tend exited %d after INT, want 0\n%s", code, p.Stderr())
	}
	out := p.Stdout()
	shutdown, stopping := strings.Index(out, "hello: shutdown: done"), strings.Index(out, "agent: stopping")
	if shutdown < 0 || stopping < 0 || stopping < shutdown {
		t.Errorf("want the service's shutdown, then the agent's stop, in the output:\n%s", out)
	}
}

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// needTool returns the path of a program the test needs: without it the
// test is skipped, or fails under CI, which installs every one.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (CI installs it)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// built is the one build of bench/logsgen for this test run.
var built struct {
	once sync.Once
	dir  string
	gen  string
	err  error
}

// logsgen returns bench/logsgen built for this test run.
func logsgen(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "logsbench-test-")
		if built.err != nil {
			return
		}
		built.gen = filepath.Join(built.dir, "logsgen")
		cmd := exec.Command("go", "build", "-o", built.gen, "../logsgen")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		var out []byte
		out, built.err = cmd.CombinedOutput()
		if built.err != nil {
			built.err = &buildError{built.err, string(out)}
		}
	})
	if built.err != nil {
		t.Fatalf("go build ../logsgen: %v", built.err)
	}
	return built.gen
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// genOutput runs logsgen with args and returns what it wrote.
func genOutput(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(logsgen(t), args...).Output()
	if err != nil {
		t.Fatalf("logsgen %v: %v", args, err)
	}
	return out
}

// writeFile writes data to a new file in a test directory.
func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

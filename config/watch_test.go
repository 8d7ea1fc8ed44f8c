package config

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWatchRefusesPseudoFilesystemsAndSpecialFilesNamedDirectly(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "app.log")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ value, path string }{
		{"/proc", "/proc"},
		{"/app/logs/*.log,/proc/kmsg", "/proc/kmsg"},
		{"/sys/kernel/*", "/sys/kernel"},
		{"/dev", "/dev"},
		{"/dev/*.log", "/dev"},
		{fifo, fifo},
	} {
		e := only(t, loadErrors(t, nil, "TEND_LOG_WATCH="+bad.value))
		if e.Where != "TEND_LOG_WATCH" || e.Value != bad.value || !strings.Contains(e.Problem, bad.path) ||
			!strings.Contains(e.Expected, "pseudo filesystem") {
			t.Errorf("TEND_LOG_WATCH=%s: got %+v", bad.value, e)
		}
	}
	// Real directories, files to come, globs over directories and auto
	// are fine.
	for _, good := range []string{dir, filepath.Join(dir, "*.log"), filepath.Join(dir, "later", "gc.log"), "/*/kmsg", "auto"} {
		mustLoad(t, nil, "TEND_LOG_WATCH="+good)
	}
}

package tests

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TEND_LOG_WATCH=auto finds the file a JVM writes through
// java.util.logging's FileHandler without being told its path, shows it in
// tend status as the main program's, and caps it: the file is open, so it
// is truncated, and the disk it takes stays within the budget.
func TestWatchAutoFindsAndCapsAJVMLogFile(t *testing.T) {
	t.Parallel()
	requireJava(t)
	const (
		budget = 1 << 20
		slack  = 256 << 10
	)
	classes := compileJava(t, "tests/testdata/java/WatchFileLogger.java")
	dir := t.TempDir()
	logFile := filepath.Join(dir, "service.log")
	p := startTend(t, tendOptions{
		Env: []string{
			"TEND_LOG_WATCH=auto",
			"TEND_LOG_DISK_BUDGET=1MiB",
			"TEND_EVENT_FORMAT=json",
		},
		Args: []string{"--", "java", "-Xmx64m", "-cp", classes, "WatchFileLogger", logFile, "3000"},
	})
	var st watchStatus
	waitFor(t, 20*time.Second, "tend status to list the JVM's log file", func() bool {
		if p.Exited() {
			t.Fatalf("tend exited\nstderr:\n%s", p.Stderr())
		}
		if _, err := os.Stat(p.socket()); err != nil {
			return false // not listening yet
		}
		st = logsStatus(t, p)
		for _, w := range st.Watched {
			if w.Path == logFile {
				if w.Program != "main" || !w.Open {
					t.Fatalf("tend status shows %+v; want program main, open", w)
				}
				return true
			}
		}
		return false
	})
	for _, w := range st.Watched {
		if strings.HasSuffix(w.Path, ".lck") || strings.HasPrefix(w.Path, "/tmp/hsperfdata") {
			t.Errorf("auto watches %s, which is not a log", w.Path)
		}
	}
	// Found within a rescan; once it passed the budget and was cut, it is
	// kept within the budget.
	waitFor(t, 30*time.Second, "the JVM's log file to be truncated", func() bool {
		for _, c := range logsStatus(t, p).Cleanups {
			if c.File == logFile && c.Action == "truncated" {
				return true
			}
		}
		return p.Exited()
	})
	sampler := sampleDisk(dir)
	time.Sleep(2 * time.Second)
	peak, samples := sampler.Stop()
	st = logsStatus(t, p)
	p.Signal(syscall.SIGTERM)
	p.Wait(20 * time.Second)

	t.Logf("peak %d bytes in %d samples; cleanups %+v", peak, samples, st.Cleanups)
	if peak > budget+slack {
		t.Errorf("the JVM's log file took %d bytes at its peak; the budget is %d (+%d slack)", peak, budget, slack)
	}
	truncated := false
	for _, c := range st.Cleanups {
		if c.File == logFile && c.Action == "truncated" && c.Program == "main" {
			truncated = true
		}
	}
	if !truncated {
		t.Errorf("the JVM's open log file was never truncated: %+v", st.Cleanups)
	}
}

// A heap dump a JVM writes into a watched directory
// (-XX:+HeapDumpOnOutOfMemoryError -XX:HeapDumpPath) is kept within the
// budget while it is written, and after.
func TestWatchHeapDumpStaysWithinBudget(t *testing.T) {
	// Not parallel: how soon tend cuts a file written at hundreds of MB/s
	// is what this measures, and the parallel tests of this package (JVMs,
	// containers filling their memory) starved tend for 150 ms at a time
	// (a peak of 54 MB once, 14 to 18 MB alone).
	requireJava(t)
	const (
		budget = 8 << 20
		// The JVM writes the dump at hundreds of MB/s, and tend cuts it
		// after each burst of writes (within milliseconds on an idle
		// machine, tens of them when the machine is busy): the slack is
		// what a busy machine lets through, a fifth of the whole dump.
		slack = 16 << 20
	)
	classes := compileJava(t, "tests/testdata/java/WatchHeapFiller.java")
	dumps := t.TempDir()
	p := startTend(t, tendOptions{
		Env: []string{
			"TEND_LOG_WATCH=" + dumps,
			"TEND_LOG_DISK_BUDGET=8MiB",
			"TEND_EVENT_FORMAT=json",
		},
		Args: []string{"--", "java", "-Xmx96m", "-XX:+UseSerialGC", "-XX:+HeapDumpOnOutOfMemoryError",
			"-XX:HeapDumpPath=" + dumps, "-cp", classes, "WatchHeapFiller"},
	})
	sampler := sampleDisk(dumps)
	p.Wait(60 * time.Second)
	peak, samples := sampler.Stop()

	ents, _ := os.ReadDir(dumps)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	dumped := strings.Contains(p.Stdout()+p.Stderr(), "Dumping heap to")
	if !dumped {
		t.Fatalf("the JVM wrote no heap dump\nstdout:\n%s\nstderr:\n%s", p.Stdout(), p.Stderr())
	}
	var cut int64
	for _, e := range tendEvents(p.Stderr()) {
		if strings.Contains(e.str("event"), "to keep the disk limits") && strings.HasSuffix(e.str("file"), ".hprof") {
			b, _ := e["bytes"].(float64)
			cut += int64(b)
		}
	}
	t.Logf("peak %d bytes in %d samples; %d bytes of the dump cut; left: %v", peak, samples, cut, names)
	if cut == 0 {
		t.Errorf("nothing of the heap dump was truncated or deleted for the budget")
	}
	if peak > budget+slack {
		t.Errorf("the heap dump took %d bytes at its peak; the budget is %d (+%d slack)", peak, budget, slack)
	}
	if now := diskBytes(dumps); now > budget {
		t.Errorf("the dump directory takes %d bytes after the JVM exited; the budget is %d", now, budget)
	}
}

package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Benchmarks of the whole binary. They report ratios against running the
// same command without tend; no test asserts a timing. Run them with
// `make bench` (which also runs bench/startup.sh).

// runTo runs argv with stdout to a file and the tend test environment,
// and returns how long it took.
func runTo(b *testing.B, env []string, out *os.File, argv ...string) time.Duration {
	b.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout = out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%v: %v", argv, err)
	}
	return time.Since(start)
}

// BenchmarkStartupTrue times `tend -- true` (ns/op) and, in the same
// loop with the timer stopped, `true` alone (true-ns/op); x-true is the
// ratio.
func BenchmarkStartupTrue(b *testing.B) {
	tend := tendPath(b)
	truePath, err := exec.LookPath("true")
	if err != nil {
		b.Skip("true not found")
	}
	env := baseEnv(b)
	var withTend, alone time.Duration
	for b.Loop() {
		withTend += runTo(b, env, nil, tend, "--", truePath)
		b.StopTimer()
		alone += runTo(b, env, nil, truePath)
		b.StartTimer()
	}
	b.ReportMetric(float64(alone.Nanoseconds())/float64(b.N), "true-ns/op")
	b.ReportMetric(float64(withTend)/float64(alone), "x-true")
}

// BenchmarkOutputThroughput copies 64 MiB through a main program's stdout
// to a file: `tend -- cat F > OUT` (ns/op, MB/s) against `cat F > OUT`
// in the same loop with the timer stopped (direct-MB/s); x-direct is how
// many times longer the copy takes through tend.
func BenchmarkOutputThroughput(b *testing.B) {
	tend := tendPath(b)
	cat, err := exec.LookPath("cat")
	if err != nil {
		b.Skip("cat not found")
	}
	dir := b.TempDir()
	in := filepath.Join(dir, "in")
	const size = 64 << 20
	if err := os.WriteFile(in, payload(3, size), 0o644); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(in)
	if err != nil {
		b.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	env := baseEnv(b)
	b.SetBytes(fi.Size())
	var withTend, direct time.Duration
	for b.Loop() {
		out.Truncate(0)
		out.Seek(0, 0)
		withTend += runTo(b, env, out, tend, "--", cat, in)
		if st, _ := out.Stat(); st.Size() != fi.Size() {
			b.Fatalf("tend wrote %d bytes, want %d", st.Size(), fi.Size())
		}
		b.StopTimer()
		out.Truncate(0)
		out.Seek(0, 0)
		direct += runTo(b, env, out, cat, in)
		b.StartTimer()
	}
	b.ReportMetric(float64(fi.Size())*float64(b.N)/direct.Seconds()/1e6, "direct-MB/s")
	b.ReportMetric(float64(withTend)/float64(direct), "x-direct")
}

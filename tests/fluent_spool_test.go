package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tend/internal/fluentdtest"
)

// treeBytes is the disk space the regular files under dir take (the
// spool is a directory inside TEND_LOG_DIR), as the budget counts them.
func treeBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		var st syscall.Stat_t
		if syscall.Lstat(path, &st) == nil {
			n += min(st.Size, st.Blocks*512)
		}
		return nil
	})
	return n
}

// sampleTree samples treeBytes of dir (see diskSampler). A walk is not
// one moment: a spool chunk counted early in it may be deleted for the
// budget, and the log file counted later grow into the room it left, so
// one walk can count bytes that never were on disk at once (once in CI,
// 146 KB over a 48 MiB budget, under the parallel tests). A sample is
// the smaller of two walks one after the other: a tree over the budget
// stays over for both, until tend deletes something.
func sampleTree(dir string) *diskSampler {
	return startDiskSampler(func(dir string) int64 { return min(treeBytes(dir), treeBytes(dir)) }, dir)
}

// fdMarkerRE matches the record that announces records dropped.
var fdMarkerRE = regexp.MustCompile(`^dropped (\d+) records \((\d+) bytes\) from (\S+) \(([a-z ,]+)\)$`)

// Fluentd is down for longer than the memory buffer lasts, with
// TEND_LOG_DIR set: the spool (LOG_DIR/fluent-spool) takes what does not
// fit in memory, the files in LOG_DIR never pass TEND_LOG_DISK_BUDGET (the
// oldest spooled chunks go first, counted), and once Fluentd is up every
// record tend did not count as dropped arrives, once, in order, with a
// record that says how many were dropped.
func TestFluentdOutageLongerThanTheBufferGoesToTheSpoolWithinTheBudget(t *testing.T) {
	t.Parallel()
	const (
		total  = 200_000 // 24 MB of lines; about 38 MB as records
		budget = 48 << 20
	)
	fd := fluentdtest.New(t) // down until the program has written everything
	logDir := t.TempDir()
	done := filepath.Join(t.TempDir(), "done")
	p := startTend(t, tendOptions{
		Env: []string{
			"TEND_FLUENT_ADDR=" + fd.Addr,
			"TEND_LOG_DIR=" + logDir,
			"TEND_LOG_DISK_BUDGET=" + strconv.Itoa(budget),
			"TEND_EVENT_FORMAT=json", "TEND_EVENT_LEVEL=info",
		},
		Args:   []string{"--", logsgenPath(t), "-n", strconv.Itoa(total), "-done", done, "-hold"},
		Stdout: devNull(t),
	})
	disk := sampleTree(logDir)
	waitForFile(t, 60*time.Second, done)
	waitFor(t, 30*time.Second, "every line read", func() bool { return programLogs(t, p, "main").Logs.Lines >= total })
	// A line read may still be on its way to the Fluentd sink, and a
	// chunk spooled for it may still push an older one out of the
	// budget: the state is looked at once every record is in memory, in
	// the spool or counted dropped (a marker of drops is a record too).
	var down fluentStatus
	waitFor(t, 30*time.Second, "every record in memory, in the spool or dropped", func() bool {
		down = fluentState(t, p)
		return down.Buffered+down.SpooledRecords+down.Dropped.Lines >= total
	})
	t.Logf("Fluentd down: %d records in memory (%d bytes), %d in the spool (%d chunks, %d bytes), dropped %v",
		down.Buffered, down.BufferedBytes, down.SpooledRecords, down.SpooledChunks, down.SpooledBytes, down.DroppedBy)
	if down.SpooledChunks == 0 {
		t.Fatal("nothing was spooled while Fluentd was down")
	}
	if down.BufferedBytes > 9<<20 {
		t.Errorf("%d bytes in memory; TEND_FLUENT_BUFFER is 8MiB", down.BufferedBytes)
	}
	if n := len(spoolFiles(t, filepath.Join(logDir, "fluent-spool"))); int64(n) != down.SpooledChunks {
		t.Errorf("%d chunk files in the spool; tend status says %d", n, down.SpooledChunks)
	}
	if down.DroppedBy["disk_limits"].Lines == 0 {
		t.Errorf("nothing dropped for the disk limits: the test does not test the budget (%+v)", down)
	}

	if err := fd.Start(); err != nil {
		t.Fatal(err)
	}
	retries := fluentState(t, p).Retries
	var replay fluentStatus
	waitFor(t, 3*time.Minute, "the buffer and the spool to drain", func() bool {
		replay = fluentState(t, p)
		return replay.Buffered == 0 && replay.SpooledChunks == 0
	})
	// Without ack (the default), a connection that fails while chunks are
	// sent may have chunks in it that Fluentd reads after those sent again
	// on the next one: order and exactly once hold while none fails.
	failed := replay.Retries > retries
	if failed {
		t.Logf("%d connections failed while the spool was sent: order and exactly once are not checked", replay.Retries-retries)
	}
	peak, _ := disk.Stop()
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Fatalf("tend exited %d\n%s", code, p.Stderr())
	}
	ev := exitEvent(t, p.Stderr())
	fd.WaitRecords(int(ev.num("records_sent")), 2*time.Minute)
	fd.Stop()
	if peak > budget {
		t.Errorf("the files in TEND_LOG_DIR took up to %d bytes; the budget is %d", peak, budget)
	}
	if left := spoolFiles(t, filepath.Join(logDir, "fluent-spool")); len(left) > 0 {
		t.Errorf("%d chunk files left in the spool after it was sent", len(left))
	}

	seen := make([]int, total)
	last, announced := -1, int64(0)
	for _, r := range fd.Records() {
		if r.Tend {
			m := fdMarkerRE.FindStringSubmatch(r.Message)
			if m == nil || m[3] != "main" || r.Program != "main" {
				t.Fatalf("marker record %+v", r)
			}
			n, _ := strconv.ParseInt(m[1], 10, 64)
			announced += n
			continue
		}
		n := lineNumberOf(r.Message)
		if n < 0 || n >= total {
			t.Fatalf("a record that was never written: %+v", r)
		}
		if seen[n]++; seen[n] > 1 && !failed {
			t.Fatalf("record %d arrived twice", n)
		}
		if n < last && !failed {
			t.Fatalf("record %d arrived after %d", n, last)
		}
		last = max(last, n)
	}
	missing := int64(0)
	for _, c := range seen {
		if c == 0 {
			missing++
		}
	}
	dropped := ev.num("records_never_arrived")
	t.Logf("peak %d bytes in LOG_DIR of %d; %d records never arrived, tend counted %d dropped (exit event %v), markers announced %d",
		peak, budget, missing, dropped, ev, announced)
	if missing != dropped || dropped == 0 {
		t.Errorf("%d records never arrived; tend counted %d dropped", missing, dropped)
	}
	if announced != dropped {
		t.Errorf("the marker records announce %d dropped records; tend counted %d", announced, dropped)
	}
}

// spoolFiles lists the chunk files in a spool directory.
func spoolFiles(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.chunk"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// A tend that exits while Fluentd is down leaves what it could not send in
// the spool; the next tend on the same TEND_LOG_DIR sends it first, once,
// and deletes it: a third start sends nothing again.
func TestFluentSpoolLeftAtExitIsSentOnceByTheNextStart(t *testing.T) {
	t.Parallel()
	const total = 50_000
	fd := fluentdtest.New(t)
	logDir := t.TempDir()
	env := []string{"TEND_FLUENT_ADDR=" + fd.Addr, "TEND_LOG_DIR=" + logDir, "TEND_EVENT_FORMAT=json", "TEND_EVENT_LEVEL=info"}

	code, _, stderr := runTend(t, tendOptions{Env: env, Args: []string{"--", logsgenPath(t), "-n", strconv.Itoa(total)}, Stdout: devNull(t)}, time.Minute)
	if code != 0 {
		t.Fatalf("first tend exited %d\n%s", code, stderr)
	}
	ev := exitEvent(t, stderr)
	spooled := spoolFiles(t, filepath.Join(logDir, "fluent-spool"))
	t.Logf("first tend, Fluentd down: %d chunk files left; exit event %v", len(spooled), ev)
	if len(spooled) == 0 || ev.num("records_spooled_for_next_start") != total || ev.num("records_never_arrived") != 0 {
		t.Fatalf("exit event %v, %d chunk files; want all %d records spooled for the next start", ev, len(spooled), total)
	}

	if err := fd.Start(); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runTend(t, tendOptions{Env: env, Args: []string{"--", "true"}}, time.Minute)
	if code != 0 {
		t.Fatalf("second tend exited %d\n%s", code, stderr)
	}
	if ev := exitEvent(t, stderr); ev.str("event") != "every record reached fluentd" || ev.num("records_sent") != total {
		t.Errorf("second tend's exit event %v; want all %d sent", ev, total)
	}
	if left := spoolFiles(t, filepath.Join(logDir, "fluent-spool")); len(left) > 0 {
		t.Errorf("%d chunk files left after they were sent", len(left))
	}
	code, _, stderr = runTend(t, tendOptions{Env: env, Args: []string{"--", "true"}}, time.Minute)
	if code != 0 {
		t.Fatalf("third tend exited %d\n%s", code, stderr)
	}
	if ev := exitEvent(t, stderr); ev.num("records_sent") != 0 {
		t.Errorf("third tend's exit event %v; it had nothing to send", ev)
	}
	fd.WaitRecords(total, 2*time.Minute)
	fd.Stop()
	recs := fd.Records()
	if len(recs) != total {
		t.Errorf("Fluentd has %d records; %d were written once", len(recs), total)
	}
	for i, r := range recs {
		if n := lineNumberOf(r.Message); n != i {
			t.Fatalf("record %d is %q: not each once, in order", i, r.Message)
		}
		if r.Program != "main" || r.Tag != "tend.main.stdout" || !strings.HasSuffix(r.Message, "x") {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
}

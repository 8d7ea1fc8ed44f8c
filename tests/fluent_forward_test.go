package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tend/internal/nettest"
)

// With TEND_FLUENT_ACK every record reaches the receiver exactly once (no
// failure happens, so at-least-once means once), with the fields the
// README promises.
func TestFluentAckDeliversEveryRecordExactlyOnce(t *testing.T) {
	t.Parallel()
	const total = 100000
	addr := nettest.FreeAddr(t)
	out := filepath.Join(t.TempDir(), "records.jsonl")
	startReceiver(t, addr, out)
	done := filepath.Join(t.TempDir(), "done")
	p := startTend(t, tendOptions{
		Env: []string{
			"TEND_FLUENT_ADDR=" + addr,
			"TEND_FLUENT_ACK=true",
			"TEND_FLUENT_TAG=app.{program}.{stream}",
		},
		Args:   []string{"--", logsgenPath(t), "-n", strconv.Itoa(total), "-done", done, "-hold"},
		Stdout: devNull(t),
	})
	waitFor(t, 120*time.Second, "every record at the receiver", func() bool {
		return countLines(out) >= total || p.Exited()
	})
	st := logsStatus(t, p)
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(30 * time.Second); code != 0 && code != 143 {
		t.Fatalf("tend exited %d\nstderr:\n%s", code, p.Stderr())
	}
	recs := readRecords(t, out)
	seen := make([]int, total)
	host, _ := os.Hostname()
	for _, r := range recs {
		if len(r.Message) < 13 || !strings.HasSuffix(r.Message, "x") {
			t.Fatalf("unexpected record %+v", r)
		}
		n, err := strconv.Atoi(r.Message[:12])
		if err != nil {
			t.Fatalf("unexpected record %+v", r)
		}
		if n < 0 || n >= total {
			t.Fatalf("record number %d out of range: %+v", n, r)
		}
		seen[n]++
		if r.Tag != "app.main.stdout" || r.Program != "main" || r.Stream != "stdout" || r.Host != host || r.Time == 0 {
			t.Fatalf("record fields: %+v (want tag app.main.stdout, program main, stream stdout, host %s, a time)", r, host)
		}
	}
	var missing, dup []int
	for n, c := range seen {
		if c == 0 {
			missing = append(missing, n)
		} else if c > 1 {
			dup = append(dup, n)
		}
	}
	if len(missing) > 0 || len(dup) > 0 {
		t.Fatalf("%d records received; %d missing (first %v), %d more than once (first %v)",
			len(recs), len(missing), head(missing), len(dup), head(dup))
	}
	if st.Fluent == nil || st.Fluent.Sent != total || st.Fluent.Dropped.Lines != 0 {
		t.Errorf("tend status fluent %+v; want %d sent, none dropped", st.Fluent, total)
	}
}

// The receiver goes down for ten seconds while the program keeps logging,
// without a spool: what fits in TEND_FLUENT_BUFFER arrives once it is
// back, the rest is counted as dropped and announced by a record that
// says how many, and nothing else is lost.
func TestFluentReceiverDownTenSecondsBuffersAndCountsOverflow(t *testing.T) {
	t.Parallel()
	const (
		total  = 40000
		rate   = 2500 // 16 s of records
		buffer = 256 << 10
	)
	addr := nettest.FreeAddr(t)
	dir := t.TempDir()
	out1, out2 := filepath.Join(dir, "before.jsonl"), filepath.Join(dir, "after.jsonl")
	recv := startReceiver(t, addr, out1)
	done := filepath.Join(dir, "done")
	p := startTend(t, tendOptions{
		Env: []string{
			"TEND_FLUENT_ADDR=" + addr,
			"TEND_FLUENT_ACK=true",
			"TEND_FLUENT_BUFFER=" + strconv.Itoa(buffer),
		},
		Args:   []string{"--", "pacedlines", "-n", strconv.Itoa(total), "-rate", strconv.Itoa(rate), "-done", done, "-hold"},
		Stdout: devNull(t),
	})
	waitFor(t, 20*time.Second, "records flowing", func() bool { return countLines(out1) >= 2000 })
	recv.Stop()
	down := time.Now()
	time.Sleep(10 * time.Second)
	mid := fluentState(t, p)
	startReceiver(t, addr, out2)
	t.Logf("receiver down for %s; tend then had %d records (%d bytes) buffered, %d dropped", time.Since(down).Round(time.Millisecond), mid.Buffered, mid.BufferedBytes, mid.Dropped.Lines)

	var st fluentStatus
	waitFor(t, 60*time.Second, "the program to finish and the buffer to drain", func() bool {
		if _, err := os.Stat(done); err != nil {
			return false
		}
		st = fluentState(t, p)
		return st.Buffered == 0
	})
	p.Signal(syscall.SIGTERM)
	p.Wait(30 * time.Second)

	seen := map[string]int{}
	announced := int64(0)
	for _, r := range readRecords(t, out1, out2) {
		if r.Tend {
			m := fdMarkerRE.FindStringSubmatch(r.Message)
			if m == nil || m[3] != "main" || !strings.Contains(m[4], "buffer full") {
				t.Fatalf("marker record %+v", r)
			}
			n, _ := strconv.ParseInt(m[1], 10, 64)
			announced += n
			continue
		}
		seen[r.Message]++
	}
	after := readRecords(t, out2)
	dropped := st.Dropped.Lines
	missing := 0
	for i := 0; i < total; i++ {
		if seen[fmt.Sprintf("%08d paced", i)] == 0 {
			missing++
		}
	}
	t.Logf("%d distinct records received, %d after the restart, %d dropped, %d announced, %d retries", len(seen), len(after), dropped, announced, st.Retries)
	if dropped == 0 {
		t.Errorf("nothing counted as dropped: ten seconds at %d records/s do not fit a buffer of %d bytes", rate, buffer)
	}
	if int64(missing) != dropped || st.DroppedBy["buffer_full"].Lines != dropped {
		t.Errorf("%d records never arrived; tend counted %d dropped (%v)", missing, dropped, st.DroppedBy)
	}
	if announced != dropped {
		t.Errorf("the marker records announce %d dropped records; tend counted %d", announced, dropped)
	}
	if mid.BufferedBytes < buffer*8/10 || mid.BufferedBytes > buffer {
		t.Errorf("%d bytes were buffered while the receiver was down; the buffer holds %d", mid.BufferedBytes, buffer)
	}
}

// On stop, what waits in the buffer is sent before tend exits, inside the
// stop budget's flush reserve.
func TestFluentStopFlushesTheBuffer(t *testing.T) {
	t.Parallel()
	const total = 20000
	addr := nettest.FreeAddr(t)
	out := filepath.Join(t.TempDir(), "records.jsonl")
	startReceiver(t, addr, out)
	done := filepath.Join(t.TempDir(), "done")
	p := startTend(t, tendOptions{
		Env: []string{
			"TEND_FLUENT_ADDR=" + addr,
			"TEND_FLUENT_ACK=true",
			"TEND_STOP_TIMEOUT=60s",
			"TEND_STOP_FLUSH_RESERVE=50s",
		},
		Args:   []string{"--", logsgenPath(t), "-n", strconv.Itoa(total), "-done", done, "-hold"},
		Stdout: devNull(t),
	})
	waitForFile(t, 20*time.Second, done)
	st := logsStatus(t, p)
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(60 * time.Second); code != 0 && code != 143 {
		t.Fatalf("tend exited %d\nstderr:\n%s", code, p.Stderr())
	}
	t.Logf("%d records buffered at the stop", st.Fluent.Buffered)
	if st.Fluent.Buffered == 0 {
		t.Log("the buffer was already empty at the stop; the test proved less than it should")
	}
	if n := len(uniqueMessages(readRecords(t, out))); n != total {
		t.Errorf("%d distinct records at the receiver after the stop; the program wrote %d", n, total)
	}
}

func uniqueMessages(recs []fluentRecord) map[string]bool {
	m := map[string]bool{}
	for _, r := range recs {
		m[r.Message] = true
	}
	return m
}

func head(v []int) []int {
	if len(v) > 5 {
		return v[:5]
	}
	return v
}

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

	"tend/internal/fluentdtest"
	"tend/internal/nettest"
)

// maxBurstRSS is the most memory tend may hold resident while it ships a
// burst to Fluentd with the default buffer (8 MiB of records).
const maxBurstRSS = 32 << 20

// A program writes 1,000,000 lines as fast as it can and exits, while a
// side program writes 100,000 and waits: with the default settings every
// record reaches the real Fluentd, in order per program (at least once);
// with TEND_FLUENT_ACK=true exactly once. A program faster than Fluentd is
// slowed down through its pipe (blocking mode), not dropped, tend's exit
// event says every record arrived, and tend's memory stays under
// maxBurstRSS.
func TestFluentdGetsAMillionLinesOfAProgramThatExits(t *testing.T) {
	t.Parallel()
	for _, ack := range []bool{false, true} {
		t.Run("ack="+strconv.FormatBool(ack), func(t *testing.T) {
			const total, side = 1_000_000, 100_000
			fd := fluentdtest.Start(t)
			env := []string{
				"TEND_FLUENT_ADDR=" + fd.Addr,
				"TEND_EVENT_FORMAT=json", "TEND_EVENT_LEVEL=info",
				"TEND_SIDE_COMMAND=" + logsgenPath(t) + " -n " + strconv.Itoa(side) + " -tag s -hold",
			}
			if ack {
				env = append(env, "TEND_FLUENT_ACK=true")
			}
			p := startTend(t, tendOptions{
				Env:    env,
				Args:   []string{"--", logsgenPath(t), "-n", strconv.Itoa(total)},
				Stdout: devNull(t),
			})
			peakRSS := watchPeakRSS(p)
			code, stderr := p.Wait(5*time.Minute), p.Stderr()
			if code != 0 {
				t.Fatalf("tend exited %d\n%s", code, stderr)
			}
			// Fluentd takes records slower than the program writes them:
			// the buffer fills and stays full for most of the burst.
			if rss := peakRSS(); rss >= maxBurstRSS {
				t.Errorf("tend's peak RSS during the burst: %.1f MiB, want under %d MiB", float64(rss)/(1<<20), maxBurstRSS>>20)
			} else {
				t.Logf("tend's peak RSS during the burst: %.1f MiB", float64(rss)/(1<<20))
			}
			ev := exitEvent(t, stderr)
			fd.WaitRecords(total+side, 2*time.Minute)
			fd.Stop()
			recs := fd.Records()

			host, _ := os.Hostname()
			next := map[string]int{"main": 0, "side": 0}
			seen := map[string][]int{"main": make([]int, total), "side": make([]int, side)}
			repeated := 0
			for _, r := range recs {
				msg := strings.TrimPrefix(r.Message, "s")
				n := lineNumberOf(msg)
				counts, ok := seen[r.Program]
				if !ok || n < 0 || n >= len(counts) || r.Stream != "stdout" || r.Tag != "tend."+r.Program+".stdout" || r.Host != host {
					t.Fatalf("a record tend did not send: %+v", r)
				}
				counts[n]++
				switch {
				case n == next[r.Program]:
					next[r.Program]++
				case counts[n] > 1:
					// Without ack a chunk may be sent again after a
					// failed connection; then it is whole and in order.
					repeated++
				default:
					t.Fatalf("%s: record %d arrived where %d was due: not in order", r.Program, n, next[r.Program])
				}
			}
			for prog, counts := range seen {
				for n, c := range counts {
					if c == 0 {
						t.Fatalf("%s: record %d of %d never arrived (%d records at Fluentd); exit event %v", prog, n, len(counts), len(recs), ev)
					}
					if ack && c > 1 {
						t.Fatalf("%s: record %d arrived %d times with ack and no failure", prog, n, c)
					}
				}
			}
			if ev.str("event") != "every record reached fluentd" || ev.num("records_sent") != total+side {
				t.Errorf("exit event %v; want every record reached fluentd, %d sent", ev, total+side)
			}
			t.Logf("%d records at Fluentd, %d of them again", len(recs), repeated)
		})
	}
}

// Fluentd killed with KILL in the middle of a stream and started again 5 s
// later: with TEND_FLUENT_ACK=true nothing is lost (a chunk whose ack was
// on its way may arrive twice), and the program was never held up while
// Fluentd was down: it kept writing at its own pace into the buffer.
func TestFluentdKilledMidStreamLosesNothingAndNeverBlocksTheProgram(t *testing.T) {
	t.Parallel()
	const (
		total = 60_000
		rate  = 4_000 // lines/s: 15 s of records, an outage of 5 s and Fluentd's start fits the 8 MiB buffer
	)
	// --flush 60s: the first Fluentd keeps what it acknowledged in its file
	// buffer instead of writing it out; a Fluentd killed in the middle of
	// its own flush would write records again after the restart, a
	// duplicate tend has no part in. The final stop writes everything.
	fd := fluentdtest.Start(t, "--flush", "60s")
	done := filepath.Join(t.TempDir(), "done")
	p := startTend(t, tendOptions{
		Env:    []string{"TEND_FLUENT_ADDR=" + fd.Addr, "TEND_FLUENT_ACK=true", "TEND_EVENT_FORMAT=json", "TEND_EVENT_LEVEL=info"},
		Args:   []string{"--", "pacedlines", "-n", strconv.Itoa(total), "-rate", strconv.Itoa(rate), "-done", done, "-hold"},
		Stdout: devNull(t),
	})
	waitFor(t, 30*time.Second, "records acknowledged", func() bool { return fluentState(t, p).Acked >= 8000 })
	if err := fd.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	read0 := programLogs(t, p, "main").Logs.Lines
	time.Sleep(4 * time.Second)
	read1 := programLogs(t, p, "main").Logs.Lines
	down := fluentState(t, p)
	readFor := time.Since(killed)
	time.Sleep(time.Until(killed.Add(5 * time.Second)))
	if err := fd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("while Fluentd was down: %d lines read from the program in %s (it writes %d/s); %d records buffered, %d retries, last error %q",
		read1-read0, readFor.Round(time.Millisecond), rate, down.Buffered, down.Retries, down.LastError)
	// A program blocked on its pipe would have written at most the pipe's
	// 64 KiB (about 4,000 of its lines) after the kill.
	if want := int64(float64(rate) * readFor.Seconds() / 2); read1-read0 < want {
		t.Errorf("%d lines read from the program in the %s Fluentd was down; at %d/s it writes %d: it was held up",
			read1-read0, readFor.Round(time.Millisecond), rate, int64(float64(rate)*readFor.Seconds()))
	}
	if down.Connected || down.Retries == 0 {
		t.Errorf("status while Fluentd was down: %+v; want not connected, retries counted", down)
	}

	waitForFile(t, 60*time.Second, done)
	waitFor(t, 60*time.Second, "the buffer to drain", func() bool {
		st := fluentState(t, p)
		return st.Buffered == 0 && st.Sent >= total
	})
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Fatalf("tend exited %d\n%s", code, p.Stderr())
	}
	fd.Stop()
	count := make([]int, total)
	for _, r := range fd.Records() {
		n, err := strconv.Atoi(strings.TrimSuffix(r.Message, " paced"))
		if err != nil || n < 0 || n >= total {
			t.Fatalf("a record that was never written: %+v", r)
		}
		count[n]++
	}
	lost, twice := 0, 0
	for n, c := range count {
		if c == 0 {
			if lost++; lost <= 5 {
				t.Errorf("record %d lost", n)
			}
		}
		if c > 1 {
			twice++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d records lost", lost, total)
	}
	if ev := exitEvent(t, p.Stderr()); ev.num("records_never_arrived") != 0 {
		t.Errorf("exit event %v", ev)
	}
	t.Logf("records received twice (their ack was lost with Fluentd): %d", twice)
}

// Fluentd is down for minutes while 60 programs log now and then (10
// lines a second each, as services do): with the default settings the
// 8 MiB buffer fills with small chunks, then records are dropped and
// counted, and the memory tend takes meanwhile stays near the buffer's
// size. Each waiting chunk used to keep a buffer of 64 KiB or more for a
// few KiB of records: in this test tend grew by 152 MiB, to 173 MiB.
func TestFluentdDownForMinutesTakesTheBufferNotMore(t *testing.T) {
	t.Parallel()
	const programs, buffer = 60, 8 << 20
	files := map[string]string{}
	for i := range programs {
		name := fmt.Sprintf("p%02d", i)
		tag := name + "-" + strings.Repeat("x", 100) + "-"
		files[name+".conf"] = fmt.Sprintf("[program:%s]\ncommand=pacedlines -n 100000 -rate 10 -tag %s\n", name, tag)
	}
	p := startTend(t, tendOptions{
		Env:    []string{writeConfD(t, files), "TEND_FLUENT_ADDR=" + nettest.FreeAddr(t)},
		Args:   []string{"--", "pacedlines", "-n", "1", "-hold"},
		Stdout: devNull(t),
	})
	peakRSS := watchPeakRSS(p)
	// Every program runs and the buffer holds a little: tend's memory
	// before the outage has lasted.
	waitFor(t, time.Minute, "records of every program in the buffer", func() bool {
		return fluentState(t, p).Buffered >= programs*10
	})
	before := procHWM(t, p.PID())
	var full fluentStatus
	waitFor(t, 4*time.Minute, "the Fluentd buffer to fill", func() bool {
		full = fluentState(t, p)
		return full.DroppedBy["buffer_full"].Lines > 0
	})
	p.Signal(syscall.SIGTERM)
	code := p.Wait(30 * time.Second)
	peak := peakRSS()
	t.Logf("buffer full: %d records (%d bytes) waiting, %d retries; tend's peak RSS %.1f MiB, %.1f MiB before", full.Buffered, full.BufferedBytes, full.Retries, float64(peak)/(1<<20), float64(before)/(1<<20))
	if full.Connected || full.Sent != 0 || full.BufferedBytes < buffer*7/8 {
		t.Errorf("status with the buffer full: %+v; want nothing sent and the 8 MiB buffer nearly full", full)
	}
	if grown := peak - before; grown > 2*buffer {
		t.Errorf("tend grew by %.1f MiB (to %.1f MiB) while the 8 MiB buffer filled; want at most twice the buffer", float64(grown)/(1<<20), float64(peak)/(1<<20))
	}
	if code != 0 {
		t.Errorf("tend exited %d after TERM\n%s", code, p.Stderr())
	}
}

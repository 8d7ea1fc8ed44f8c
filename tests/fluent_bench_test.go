package tests

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tend/forward"
	"tend/internal/fluentdtest"
	"tend/internal/nettest"
)

// BenchmarkFluentForward sends b.N records of 120 bytes (logsgen's lines)
// to a forward-protocol receiver, ack off and on, in the same run:
//
//   - tend/...: a program writes them as fast as it can, through tend
//     (pipe, pipeline, the Fluentd sink, default settings);
//   - client/...: the benchmark itself sends the same records through a
//     bare forward.Client, in chunks of the sink's size, as the baseline.
//
// The receivers are the real Fluentd (../shared/fluentd, which its Ruby
// tops out near 60,000 records/s on this kind of machine) and the
// OpenTelemetry Collector's fluentforward receiver (tests/fluentrecv),
// which is faster. records/s runs from the start to the last record at the
// receiver (for Fluentd: to the last record settled, acknowledged with
// ack on, as Fluentd writes a small last chunk out only minutes later;
// Fluentd is then stopped, which writes everything out, and every record
// must be in its output); for tend also its own CPU time per million records (the
// writer's excluded) and its peak RSS. One op is one record; run it with
// a fixed count:
//
//	go test -run '^$' -bench FluentForward -benchtime 1000000x ./tests
func BenchmarkFluentForward(b *testing.B) {
	for _, recv := range []string{"fluentd", "otel"} {
		for _, ack := range []bool{false, true} {
			name := recv + "/ack=" + map[bool]string{false: "off", true: "on"}[ack]
			b.Run("tend/"+name, func(b *testing.B) { benchTendFluent(b, recv, ack) })
			b.Run("client/"+name, func(b *testing.B) { benchClientFluent(b, recv, ack) })
		}
	}
}

// benchReceiver starts a receiver of the kind ("fluentd" or "otel") and
// returns its address, a function counting the records it wrote, and
// for Fluentd the function that stops it (nil for the other receiver).
func benchReceiver(b *testing.B, kind string) (addr string, count func() int, stop func()) {
	if kind == "fluentd" {
		fd := fluentdtest.Start(b, "--flush", "200ms")
		return fd.Addr, fd.Counter().Count, func() {
			// Without ack the last records may still be in the socket,
			// which Fluentd's stop does not read: wait until its file
			// buffer and output stop growing first.
			last, still := int64(-1), 0
			for range 600 {
				if n := treeBytes(fd.Dir); n != last {
					last, still = n, 0
				} else if still++; still >= 10 {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			fd.Stop()
		}
	}
	addr = nettest.FreeAddr(b)
	out := filepath.Join(b.TempDir(), "records.jsonl")
	startReceiver(b, addr, out)
	c := &lineCounter{path: out}
	return addr, c.count, nil
}

// checkDelivered stops Fluentd, which writes out what it holds, and fails
// unless every record is in its output.
func checkDelivered(b *testing.B, count func() int, stop func()) {
	if stop == nil {
		return
	}
	stop()
	if n := count(); n < b.N {
		b.Fatalf("%d of %d records in Fluentd's output after its stop", n, b.N)
	}
}

func benchTendFluent(b *testing.B, kind string, ack bool) {
	addr, count, stop := benchReceiver(b, kind)
	gen := logsgenPath(b)
	done := filepath.Join(b.TempDir(), "done")
	b.ResetTimer()
	start := time.Now()
	p := startTend(b, tendOptions{
		Env:    []string{"TEND_FLUENT_ADDR=" + addr, "TEND_FLUENT_ACK=" + strconv.FormatBool(ack)},
		Args:   []string{"--", gen, "-n", strconv.Itoa(b.N), "-done", done, "-hold"},
		Stdout: devNull(b),
	})
	arrived := count
	if stop != nil {
		arrived = func() int { return int(fluentState(b, p).Sent) }
	}
	waitFor(b, 10*time.Minute, "every record at the receiver", func() bool { return arrived() >= b.N || p.Exited() })
	took := time.Since(start)
	b.StopTimer()
	cpu := procCPU(b, p.PID())
	rss := procHWM(b, p.PID())
	p.Signal(syscall.SIGTERM)
	p.Wait(30 * time.Second)
	checkDelivered(b, count, stop)
	b.ReportMetric(float64(b.N)/took.Seconds(), "records/s")
	b.ReportMetric(cpu.Seconds()/float64(b.N)*1e6, "tend-cpu-s/Mrecords")
	b.ReportMetric(float64(rss)/(1<<20), "tend-peak-rss-MiB")
}

func benchClientFluent(b *testing.B, kind string, ack bool) {
	addr, count, stop := benchReceiver(b, kind)
	c, err := forward.NewClient(forward.Config{Addr: addr, Ack: ack})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	host, _ := os.Hostname()
	ctx := context.Background()
	var free []*forward.Chunk
	ch := new(forward.Chunk)
	ch.Reset("tend.main.stdout")
	send := func() {
		settled, err := c.Send(ctx, ch)
		if err != nil {
			b.Fatal(err)
		}
		free = append(free, settled...)
		if n := len(free); n > 0 {
			ch, free = free[n-1], free[:n-1]
		} else {
			ch = new(forward.Chunk)
		}
		ch.Reset("tend.main.stdout")
	}
	rec := forward.Record{Program: "main", Stream: "stdout", Host: host}
	line := genLine(nil, "", genLineSize, 0)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		line = genLine(line[:0], "", genLineSize, int64(i))
		rec.Message = line[:len(line)-1]
		ch.Append(time.Now(), &rec)
		if ch.Size() >= 256<<10 {
			send()
		}
	}
	if ch.Len() > 0 {
		send()
	}
	if _, err := c.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if stop == nil {
		waitFor(b, 10*time.Minute, "every record at the receiver", func() bool { return count() >= b.N })
	}
	took := time.Since(start)
	b.StopTimer()
	c.Close()
	checkDelivered(b, count, stop)
	b.ReportMetric(float64(b.N)/took.Seconds(), "records/s")
}

// lineCounter counts the lines of a growing file, reading each byte once.
type lineCounter struct {
	path string
	off  int64
	n    int
}

func (c *lineCounter) count() int {
	f, err := os.Open(c.path)
	if err != nil {
		return c.n
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		k, _ := f.ReadAt(buf, c.off)
		if k == 0 {
			return c.n
		}
		// Only whole lines count; a partial last line is read again.
		last := bytes.LastIndexByte(buf[:k], '\n')
		if last < 0 {
			return c.n
		}
		c.n += bytes.Count(buf[:last+1], []byte{'\n'})
		c.off += int64(last + 1)
	}
}

// procCPU returns the user and system CPU time of process pid so far
// (its children's excluded).
func procCPU(t testing.TB, pid int) time.Duration {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

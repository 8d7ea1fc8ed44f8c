package tests

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
)

// BenchmarkFluentForward sends b.N records of 120 bytes to the real
// receiver, with ack off and on: through tend (a program's stdout, the
// pipeline, the Fluentd sink), and with fluent-logger-golang's own client
// sending the same messages straight from the benchmark, one Post each,
// in sync mode like tend's sink. It reports records per second (from the
// first record to the last at the receiver) and, for tend, its CPU time
// per million records. One op is one record; run it with a fixed count:
//
//	go test -run '^$' -bench FluentForward -benchtime 100000x ./tests
func BenchmarkFluentForward(b *testing.B) {
	for _, ack := range []bool{false, true} {
		name := "ack=off"
		if ack {
			name = "ack=on"
		}
		b.Run("tend/"+name, func(b *testing.B) { benchTendFluent(b, ack) })
		b.Run("client/"+name, func(b *testing.B) { benchClientFluent(b, ack) })
	}
}

func benchTendFluent(b *testing.B, ack bool) {
	addr := fluentAddr(b)
	out := filepath.Join(b.TempDir(), "records.jsonl")
	startReceiver(b, addr, out)
	gen := logsgenPath(b)
	done := filepath.Join(b.TempDir(), "done")
	b.ResetTimer()
	start := time.Now()
	p := startTend(b, tendOptions{
		Env: []string{
			"TEND_FLUENT_ADDR=" + addr,
			"TEND_FLUENT_ACK=" + strconv.FormatBool(ack),
			"TEND_FLUENT_BUFFER=" + strconv.Itoa(max(b.N, 1)),
		},
		Args:   []string{"--", gen, "-n", strconv.Itoa(b.N), "-done", done, "-hold"},
		Stdout: devNull(b),
	})
	c := &lineCounter{path: out}
	waitFor(b, 10*time.Minute, "every record at the receiver", func() bool { return c.count() >= b.N || p.Exited() })
	took := time.Since(start)
	b.StopTimer()
	cpu := procCPU(b, p.PID())
	p.Signal(syscall.SIGTERM)
	p.Wait(30 * time.Second)
	b.ReportMetric(float64(b.N)/took.Seconds(), "records/s")
	b.ReportMetric(cpu.Seconds()/float64(b.N)*1e6, "tend-cpu-s/Mrecords")
}

func benchClientFluent(b *testing.B, ack bool) {
	addr := fluentAddr(b)
	out := filepath.Join(b.TempDir(), "records.jsonl")
	startReceiver(b, addr, out)
	host, port, _ := strings.Cut(addr, ":")
	portN, _ := strconv.Atoi(port)
	client, err := fluent.New(fluent.Config{FluentHost: host, FluentPort: portN, RequestAck: ack,
		SubSecondPrecision: true, MaxRetry: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	hostname, _ := os.Hostname()
	line := genLine(nil, "", genLineSize, 0)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		line = genLine(line[:0], "", genLineSize, int64(i))
		rec := map[string]string{"message": string(line[:len(line)-1]), "program": "main", "stream": "stdout", "host": hostname}
		if err := client.PostWithTime("tend.main.stdout", time.Now(), rec); err != nil {
			b.Fatal(err)
		}
	}
	c := &lineCounter{path: out}
	waitFor(b, 10*time.Minute, "every record at the receiver", func() bool { return c.count() >= b.N })
	took := time.Since(start)
	b.StopTimer()
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

// procCPU returns the user and system CPU time of process pid so far.
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

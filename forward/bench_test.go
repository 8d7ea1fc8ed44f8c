package forward

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"tend/internal/fluentdtest"
)

// benchLine is a log line of a typical size (about 100 bytes).
var benchLine = []byte("2026-05-04 03:02:01.123 INFO  [http-nio-8080-exec-7] c.e.orders.OrderService - order 4711 accepted")

// benchPerChunk is the records per chunk in the benchmarks (about 130 KiB).
const benchPerChunk = 1000

// Encoding a record into a chunk: no allocation per record.
func BenchmarkAppend(b *testing.B) {
	var c Chunk
	c.Reset("tend.main.stdout")
	rec := Record{Message: benchLine, Program: "main", Stream: "stdout", Host: "orders-7d9c-x2x4z"}
	now := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(len(benchLine)))
	for i := 0; b.Loop(); i++ {
		if i%benchPerChunk == 0 {
			c.Reset("tend.main.stdout")
		}
		c.Append(now, &rec)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// Records per second into a real Fluentd: this client in chunks, ack off
// and on, in the same run for the ratio. Every run has a Fluentd of its
// own, so that none inherits the backlog of another. cpu-ms/Mrecords is
// this process's CPU time (user + system) per million records. Without
// ack, the time ends when the last chunk is written, which Fluentd may not
// have processed yet; TCP's flow control bounds that lag to the socket
// buffers.
func BenchmarkFluentd(b *testing.B) {
	for _, ack := range []bool{false, true} {
		name := map[bool]string{false: "ack-off", true: "ack-on"}[ack]
		b.Run("forward/"+name, func(b *testing.B) { benchForward(b, fluentdtest.Start(b).Addr, ack) })
	}
}

func benchForward(b *testing.B, addr string, ack bool) {
	c, err := NewClient(Config{Addr: addr, Ack: ack})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	free := make([]*Chunk, 0, DefaultWindow+1)
	ch := new(Chunk)
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
			ch = new(Chunk)
		}
		ch.Reset("tend.main.stdout")
	}
	rec := Record{Message: benchLine, Program: "main", Stream: "stdout", Host: "orders-7d9c-x2x4z"}
	cpu := cpuTime()
	b.ReportAllocs()
	for b.Loop() {
		ch.Append(time.Now(), &rec)
		if ch.Len() == benchPerChunk {
			send()
		}
	}
	if ch.Len() > 0 {
		send()
	}
	if _, err := c.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	reportRates(b, cpuTime()-cpu)
}

// reportRates reports records/s and the CPU time per million records.
func reportRates(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(cpu.Milliseconds())*1e6/float64(b.N), "cpu-ms/Mrecords")
}

// cpuTime returns the CPU time this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(fmt.Sprint("getrusage: ", err))
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

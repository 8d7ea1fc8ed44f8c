package logship_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"tend/logship"
	"tend/logship/internal/logtest"
)

// In blocking mode a pusher that finds the queue empty and nobody writing
// writes its batch itself (Claim); a batch pushed meanwhile waits for the
// sink's goroutine, which gets it only once the pusher is done, so one
// writer writes at a time and batches keep their order. In non-blocking
// mode a pusher never writes: it must never wait on the sink's output.
func TestQueueLetsThePusherOfAnIdleSinkWriteOneWriterAtATime(t *testing.T) {
	pl, err := logship.New(logtest.Log(""), logship.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer logtest.Close(t, pl)
	p := pl.Program(logship.Source{Program: "main"})
	q := logship.NewQueue(1<<20, true)
	if !q.Claim() {
		t.Fatal("an empty, idle queue refused Claim")
	}
	if q.Claim() {
		t.Fatal("a second writer got the queue")
	}
	second := pl.NewBatch(p, logship.Stdout, 10)
	defer second.Release()
	if !q.Push(second) {
		t.Fatal("push refused")
	}
	got := make(chan logship.Item, 1)
	go func() {
		it, _ := q.Next(nil)
		got <- it
	}()
	select {
	case <-got:
		t.Fatal("Next handed out a batch while the pusher still writes")
	case <-time.After(100 * time.Millisecond):
	}
	q.Done()
	if it := <-got; it.Batch != second {
		t.Fatalf("Next gave %v, want the batch pushed meanwhile", it.Batch)
	} else {
		it.Batch.Release()
	}
	if q.Claim() {
		t.Fatal("a pusher got the queue while the sink's goroutine writes")
	}
	q.Done()
	if !q.Claim() {
		t.Fatal("the queue is empty and idle again, yet Claim failed")
	}
	q.Done()

	if logship.NewQueue(1<<20, false).Claim() {
		t.Fatal("a non-blocking queue let the pusher write")
	}
}

// A capture of a reader that is not a pipe (here a regular file) reads
// it to its end with Go's own reads.
func TestCaptureOfAFileReadsItAll(t *testing.T) {
	data := logtest.Lines(0, 5000)
	name := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	var out logtest.SyncBuffer
	pl := newConsolePipeline(t, logship.Options{}, &out)
	c := pl.CaptureSource(logship.Source{Program: "main"}, logship.Stdout, f)
	<-c.Done()
	logtest.Close(t, pl)
	if got := out.Bytes(); string(got) != string(data) {
		t.Fatalf("console got %d bytes, the file holds %d", len(got), len(data))
	}
}

package logship

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// openTestPipe returns a pipeReader over a new pipe and its write end.
func openTestPipe(t *testing.T) (*pipeReader, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := openPipe(r)
	if p == nil {
		t.Fatal("openPipe refused a pipe")
	}
	t.Cleanup(func() { p.close(); w.Close() })
	return p, w
}

// threads counts the process's threads.
func threads(t *testing.T) int {
	t.Helper()
	d, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Skip("no /proc/self/task:", err)
	}
	return len(d)
}

// A stream nobody has written to yet holds no thread: 32 captures of idle
// pipes add a few threads at most, not one each.
func TestAnIdlePipeHoldsNoThread(t *testing.T) {
	before := threads(t)
	done := make(chan error, 32)
	var writers []*os.File
	for range 32 {
		p, w := openTestPipe(t)
		writers = append(writers, w)
		go func() {
			_, err := p.Read(make([]byte, 64), time.Time{})
			done <- err
		}()
	}
	time.Sleep(200 * time.Millisecond) // time to block, each in its way
	if added := threads(t) - before; added >= 16 {
		t.Errorf("32 captures of idle pipes added %d threads", added)
	}
	for _, w := range writers {
		w.Write([]byte("x\n"))
	}
	for range 32 {
		if err := <-done; err != nil {
			t.Errorf("read after the first write: %v", err)
		}
	}
}

// The first wait ends at its deadline, at interrupt, and when the program
// wrote and exited before it began; reads after it go on as before.
func TestTheFirstWaitEndsAsEveryWaitDoes(t *testing.T) {
	buf := make([]byte, 64)

	p, w := openTestPipe(t)
	p.drained = true // as after a read that took all there was
	if _, err := p.Read(buf, time.Now().Add(50*time.Millisecond)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("idle pipe, deadline: %v, want deadline exceeded", err)
	}
	w.Write([]byte("late\n"))
	if n, err := p.Read(buf, time.Now().Add(10*time.Second)); err != nil || string(buf[:n]) != "late\n" {
		t.Errorf("after the deadline: %q, %v; want the line", buf[:n], err)
	}

	p, _ = openTestPipe(t)
	p.drained = true
	go func() { time.Sleep(50 * time.Millisecond); p.interrupt() }()
	if _, err := p.Read(buf, time.Time{}); !errors.Is(err, errStopped) {
		t.Errorf("idle pipe, interrupt: %v, want stopped", err)
	}

	p, w = openTestPipe(t)
	w.Write([]byte("last words\n"))
	w.Close()
	if n, err := p.Read(buf, time.Time{}); err != nil || string(buf[:n]) != "last words\n" {
		t.Errorf("written and closed: %q, %v; want the line", buf[:n], err)
	}
	// The read took all there was: the next waits, and sees the end.
	if _, err := p.Read(buf, time.Now().Add(10*time.Second)); !errors.Is(err, io.EOF) {
		t.Errorf("at the end: %v, want EOF", err)
	}
}

package main

import (
	"context"
	"io"
	"os"
	"sync"
)

// passthrough copies every program's output to tend's stdout and stderr.
type passthrough struct {
	stdout, stderr io.Writer
	wg             sync.WaitGroup
	mu             sync.Mutex
	readers        []*os.File
}

func newPassthrough(stdout, stderr io.Writer) *passthrough {
	return &passthrough{stdout: stdout, stderr: stderr}
}

func (p *passthrough) Capture(program, stream string, r *os.File) {
	w := p.stdout
	if stream == "stderr" {
		w = p.stderr
	}
	p.mu.Lock()
	p.readers = append(p.readers, r)
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		io.Copy(w, r)
	}()
}

func (p *passthrough) LastLines(string) []string { return nil }

func (p *passthrough) Close(ctx context.Context) error {
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		p.mu.Lock()
		for _, r := range p.readers {
			r.Close()
		}
		p.mu.Unlock()
		<-done
	}
	return nil
}

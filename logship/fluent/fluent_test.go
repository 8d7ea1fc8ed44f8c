package fluent

import (
	"context"
	"errors"
	"testing"
	"time"

	"tend/config"
	"tend/logship"
	"tend/logship/internal/logtest"
)

// A Fluentd sink whose receiver never takes anything: the program is
// never slowed, the records past the buffer are counted as dropped, and
// Close returns at its deadline, counting what was left.
func TestFluentSinkNeverBlocksAndCountsWhatItDrops(t *testing.T) {
	f, err := newSink(config.Fluent{Addr: "127.0.0.1:1", Buffer: 100, Tag: "t.{program}"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Every send fails, as with a receiver that is down.
	f.post = func(string, time.Time, *fluentRecord) error { return errors.New("down") }
	go f.run()
	s, err := logship.New(logtest.Log(""), logship.Options{}, f)
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	logtest.Feed(t, s, logship.Source{Program: "main"}, logship.Stdout, logtest.Lines(0, 1000))
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the program took %s to write 1000 lines with Fluentd down", took)
	}
	if d := s.Stats("main").FluentDropped.Lines; d != 900 {
		t.Errorf("%d lines counted as dropped; 1000 written, the buffer holds 100", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := s.Close(ctx); err == nil {
		t.Error("Close reported success with 100 records never sent")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %s with a 300ms deadline", took)
	}
	if d := s.Stats("main").FluentDropped.Lines; d != 1000 {
		t.Errorf("%d lines counted as dropped after Close; none was sent", d)
	}
}

package tests

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// totalRE is logsgen's last line with -until-term.
var totalRE = regexp.MustCompile(`^total (\d+)\n$`)

// countingReader counts the bytes read through it. Once slow is set it
// reads at about 4 MB/s, as a log collector that lags behind.
type countingReader struct {
	r    io.Reader
	n    atomic.Int64
	slow atomic.Bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.slow.Load() {
		time.Sleep(time.Millisecond)
		p = p[:min(len(p), 4096)]
	}
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// endsWithTotal makes c accept logsgen's "total N" line once, when N is
// the number of lines before it, and nothing after it.
func endsWithTotal(total *int64) func(c *lineChecker, line []byte) error {
	*total = -1
	return func(c *lineChecker, line []byte) error {
		m := totalRE.FindSubmatch(line)
		if m == nil || *total >= 0 {
			return fmt.Errorf("got %q, want line %d", short(line), c.next)
		}
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		if n != c.next {
			return fmt.Errorf("the program says it wrote %d lines; %d came before that", n, c.next)
		}
		*total = n
		c.skipTo(-1) // nothing may follow
		return nil
	}
}

// TestTermDuringFloodLosesNoLine: tend gets SIGTERM while the main program
// floods; the program traps TERM and writes 10,000 more lines and a total.
// Every line, those after the TERM included, is on tend's stdout (raw,
// read as it comes, slowly after the TERM, so that tend holds a backlog
// when the program exits) and in the log files, once and in order, and
// tend exits 0. Run directly and as PID 1 of a PID namespace.
func TestTermDuringFloodLosesNoLine(t *testing.T) {
	if testing.Short() {
		t.Skip("floods")
	}
	for _, pid1 := range []bool{false, true} {
		name := "direct"
		if pid1 {
			name = "pid1"
		}
		t.Run(name, func(t *testing.T) {
			if pid1 {
				requireRoot(t)
			}
			gen := logsgenPath(t)
			dir := filepath.Join(t.TempDir(), "logs")
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			p := startTend(t, tendOptions{
				PID1:   pid1,
				Stdout: w,
				Env:    []string{"TEND_LOG_DIR=" + dir, "TEND_LOG_FILE_SIZE=8MiB", "TEND_LOG_FILE_COUNT=1000"},
				Args:   []string{"--", gen, "-until-term", "-after-term", "10000"},
			})
			w.Close()

			console := &countingReader{r: r}
			var total int64
			c := newLineChecker("", genLineSize, 0)
			c.other = endsWithTotal(&total)
			checked := make(chan error, 1)
			go func() { checked <- c.check(console) }()

			const before = 100000
			waitFor(t, 30*time.Second, "100,000 lines on the console", func() bool {
				return console.n.Load() >= before*genLineSize || p.Exited()
			})
			atTerm := console.n.Load() / genLineSize
			// From now on stdout is read slowly, so that when the program
			// exits, tend still holds what it could not write yet: all of
			// it must be written before tend exits.
			console.slow.Store(true)
			p.Signal(syscall.SIGTERM)
			code := p.Wait(30 * time.Second)
			var consoleErr error
			select {
			case consoleErr = <-checked:
			case <-time.After(10 * time.Second):
				t.Fatal("tend's stdout still open 10s after tend exited")
			}
			if code != 0 {
				t.Errorf("tend exited with %d after TERM\nstderr:\n%s", code, tail(p.Stderr()))
			}
			if consoleErr != nil {
				t.Fatalf("console: %v", consoleErr)
			}
			if total < 0 {
				t.Fatalf("console: ends after line %d without the program's total line", c.next-1)
			}
			t.Logf("%d lines on the console when TERM was sent, %d in all", atTerm, total)
			if total < atTerm+10000 {
				t.Errorf("the program wrote %d lines in all, %d of them before TERM: fewer than 10,000 after it", total, atTerm)
			}

			var fileTotal int64
			fc := newLineChecker("", genLineSize, 0)
			fc.other = endsWithTotal(&fileTotal)
			files := logFiles(t, dir, "main")
			if err := fc.check(openConcat(t, files)); err != nil {
				t.Fatalf("files %v: %v", files, err)
			}
			if fileTotal != total {
				t.Fatalf("the files end after line %d (total line: %d); the program wrote %d lines", fc.next-1, fileTotal, total)
			}
		})
	}
}

// Command logsgen writes numbered lines as fast as a pipe takes them. It is
// the program whose output the log benchmarks (bench/logsbench) and the
// end-to-end log tests (tests/logs_*_test.go) push through tend and its
// peers, so that every logger is fed by the same lines.
//
//	logsgen [-writer NAME] [-go FILE] [-n LINES | -for DURATION | -until-term [-after-term N]]
//	        [-size BYTES] [-tag TEXT] [-stderr]
//	        [-done FILE] [-wait FILE] [-more LINES] [-end TEXT] [-hold]
//	        [-rusage FILE]
//
// Line i (from 0) is TAG, i in 12 decimal digits, a space, 'x' up to
// SIZE-1 bytes, and a newline: with the default size and no tag,
//
//	000000000042 xxxx...xxxx\n   (120 bytes)
//
// The bytes are the same whatever the writer; -writer chooses how they are
// cut into write(2) calls, as the programs that write logs cut them:
//
//   - lines (the default): runs of whole lines of about 64 KiB (one pipe
//     buffer), one write per run; every write ends on a newline.
//   - bufio64k: a Go program logging through a bufio.Writer of 64 KiB: one
//     Write per line into the buffer, so every write(2) is 65,536 bytes and
//     most end in the middle of a line.
//   - java8k: a JVM program printing through a PrintWriter over a
//     BufferedWriter (8,192 chars) on stdout: 8,192-byte writes that split
//     lines. (A PrintStream over an 8 KiB BufferedOutputStream flushes what
//     it holds before a line that does not fit, so its writes end on a
//     newline, like -writer lines with smaller runs; System.out flushes
//     every println, like -writer perline.)
//   - stdio4k: a C program using stdio with stdout a pipe: fully buffered
//     in 4,096 bytes (a pipe's st_blksize), so 4,096-byte writes that split
//     lines.
//   - perline: one write(2) per line, as System.out.println (autoflush),
//     logback's ConsoleAppender (immediateFlush) or an unbuffered C
//     program write.
//
// The steps, in order, each only when its flag is given:
//
//  1. -go: wait until FILE exists (several programs can start together);
//  2. write -n lines; or, with -for, write until DURATION has passed; or,
//     with -until-term, write until SIGTERM, then -after-term more lines
//     (default 10,000), then the line "total COUNT" with the number of
//     numbered lines written;
//  3. -done: create FILE;
//  4. -wait: wait until FILE exists;
//  5. -more: write LINES more numbered lines, the numbers going on;
//  6. -end: write the line TEXT;
//  7. -hold: wait for SIGTERM or SIGINT;
//  8. -rusage: write the program's own CPU time and peak RSS
//     ("user_us sys_us maxrss_kib") to FILE, so a harness can tell its CPU
//     apart from its parent's;
//
// then exit 0. A buffering writer flushes before each of the steps 3 to 8,
// so what a step announces has been written. A failed write (the reader
// went away) exits 1 at once.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// digits is the width of a line number.
const digits = 12

// bufferSizes are the writers that buffer lines in a buffer of a fixed size
// and write it whenever it is full, line boundary or not.
var bufferSizes = map[string]int{
	"bufio64k": 64 << 10,
	"java8k":   8 << 10,
	"stdio4k":  4 << 10,
}

// writerNames lists every -writer value, for the usage and errors.
func writerNames() string {
	names := []string{"lines", "perline"}
	for n := range bufferSizes {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func main() {
	mode := flag.String("writer", "lines", "how lines are cut into writes: "+writerNames())
	goFile := flag.String("go", "", "wait until this file exists before writing")
	n := flag.Int64("n", 0, "numbered lines to write")
	dur := flag.Duration("for", 0, "write for this long instead of -n lines")
	size := flag.Int("size", 120, "bytes per line, newline included")
	tag := flag.String("tag", "", "text at the start of every line, before the number")
	toStderr := flag.Bool("stderr", false, "write to stderr instead of stdout")
	untilTerm := flag.Bool("until-term", false, "write until SIGTERM, then -after-term more lines and \"total COUNT\"")
	afterTerm := flag.Int64("after-term", 10000, "with -until-term, lines written after SIGTERM")
	end := flag.String("end", "", "a last line written after the numbered lines")
	done := flag.String("done", "", "create this file once the lines are written")
	wait := flag.String("wait", "", "then wait until this file exists")
	more := flag.Int64("more", 0, "then write this many more numbered lines")
	hold := flag.Bool("hold", false, "after writing, wait for SIGTERM or SIGINT, then exit 0")
	rusage := flag.String("rusage", "", "write own CPU time and peak RSS to this file at exit")
	flag.Parse()

	if *size < len(*tag)+digits+2 {
		fail("-size %d is too small for -tag %q: at least %d", *size, *tag, len(*tag)+digits+2)
	}
	out := os.Stdout
	if *toStderr {
		out = os.Stderr
	}
	w, err := newWriter(*mode, out, *size, *tag)
	if err != nil {
		fail("%v", err)
	}
	// Signals are caught before the first line, so that a TERM sent as
	// soon as output appears is never the default action.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	var termed atomic.Bool
	termSeen := make(chan struct{})
	go func() {
		<-sigs
		termed.Store(true)
		close(termSeen)
	}()

	if *goFile != "" {
		waitFile(*goFile)
	}
	switch {
	case *dur > 0:
		for end := time.Now().Add(*dur); time.Now().Before(end); {
			w.lines(w.perRun)
		}
	case *untilTerm:
		for !termed.Load() {
			w.lines(w.perRun)
		}
		w.lines(*afterTerm)
		w.text(fmt.Sprintf("total %d", w.next))
	default:
		w.lines(*n)
	}
	w.flush()
	if *done != "" {
		f, err := os.Create(*done)
		if err != nil {
			fail("%v", err)
		}
		f.Close()
	}
	if *wait != "" {
		waitFile(*wait)
	}
	w.lines(*more)
	if *end != "" {
		w.text(*end)
	}
	w.flush()
	if *hold {
		<-termSeen
	}
	if *rusage != "" {
		writeRusage(*rusage)
	}
}

// waitFile waits until path exists.
func waitFile(path string) {
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// writer writes numbered lines from a buffer of whole lines whose
// template (tag, 'x' padding, newline) is filled in once.
type writer struct {
	// out takes the lines: the file itself, or a buffer over it.
	out io.Writer
	// buffered is the buffer of a buffering writer, nil otherwise.
	buffered *bufio.Writer
	// perLine makes every line a Write of its own (into the buffer, or
	// to the file for perline); otherwise a run is one Write.
	perLine bool
	size    int
	tagLen  int
	buf     []byte
	perRun  int64
	num     [digits]byte // the next line's number, in ASCII
	next    int64
}

// newWriter returns the writer mode names, writing to out.
func newWriter(mode string, out *os.File, size int, tag string) (*writer, error) {
	perRun := max(1, (64<<10)/size)
	w := &writer{out: out, size: size, tagLen: len(tag), perRun: int64(perRun)}
	switch mode {
	case "lines":
	case "perline":
		w.perLine = true
	default:
		bufSize, ok := bufferSizes[mode]
		if !ok {
			return nil, fmt.Errorf("-writer %q: want one of %s", mode, writerNames())
		}
		w.buffered = bufio.NewWriterSize(out, bufSize)
		w.out = w.buffered
		w.perLine = true
	}
	w.buf = make([]byte, perRun*size)
	for i := 0; i < perRun; i++ {
		line := w.buf[i*size : (i+1)*size]
		copy(line, tag)
		for j := len(tag); j < size-1; j++ {
			line[j] = 'x'
		}
		line[len(tag)+digits] = ' '
		line[size-1] = '\n'
	}
	for i := range w.num {
		w.num[i] = '0'
	}
	return w, nil
}

// lines writes the next count numbered lines.
func (w *writer) lines(count int64) {
	if w.perLine {
		line := w.buf[:w.size]
		for ; count > 0; count-- {
			copy(line[w.tagLen:], w.num[:])
			w.increment()
			w.write(line)
		}
		return
	}
	for count > 0 {
		k := min(count, w.perRun)
		for i := int64(0); i < k; i++ {
			copy(w.buf[int(i)*w.size+w.tagLen:], w.num[:])
			w.increment()
		}
		w.write(w.buf[:int(k)*w.size])
		count -= k
	}
}

// increment adds one to the ASCII line number.
func (w *writer) increment() {
	w.next++
	for i := digits - 1; i >= 0; i-- {
		if w.num[i] != '9' {
			w.num[i]++
			return
		}
		w.num[i] = '0'
	}
}

// text writes one line of its own.
func (w *writer) text(s string) { w.write([]byte(s + "\n")) }

func (w *writer) write(p []byte) {
	if _, err := w.out.Write(p); err != nil {
		// The reader went away (EPIPE): nothing more can be delivered.
		os.Exit(1)
	}
}

// flush writes what a buffering writer holds.
func (w *writer) flush() {
	if w.buffered == nil {
		return
	}
	if err := w.buffered.Flush(); err != nil {
		os.Exit(1)
	}
}

// writeRusage writes "user_us sys_us maxrss_kib" of this process.
func writeRusage(path string) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail("getrusage: %v", err)
	}
	us := func(tv syscall.Timeval) int64 { return tv.Sec*1e6 + tv.Usec }
	s := fmt.Sprintf("%d %d %d\n", us(ru.Utime), us(ru.Stime), ru.Maxrss)
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "logsgen: "+format+"\n", args...)
	os.Exit(2)
}

// Command logfloor does the least a log collector must do with a program's
// output under the contract tend keeps, and nothing else: no framing
// beyond finding newlines, no line count, no budget, no second sink, no
// signals. It is the log benchmark's floor (bench/logsbench, cases
// floor-files and floor-json): the work no collector can skip, in a bare
// loop, timed in the same run as cat and tend, so that tend's cells can be
// read against what the machine allows as well as against cat. It shares
// no code with tend on purpose: its rotation and its JSON are the plainest
// loops that do the job.
//
//	logfloor files DIR   # stdin to DIR/main.log, rotated at a line boundary
//	                     # before 50 MiB into main.log.1 ... main.log.4 (the
//	                     # oldest deleted), the live file fsynced at the end
//	logfloor json        # stdin to stdout, each line wrapped in a JSON
//	                     # object as tend's json console writes it, without
//	                     # escaping (the lines need none) or a clock per batch
//
// Both read stdin (grown to a 1 MiB pipe, as tend grows a program's pipe)
// in reads of 128 KiB, with which a bare copy loop ran faster than with
// reads of 1 MiB; json formats on one goroutine and writes 256 KiB pieces
// on another, which ran faster than one goroutine with a writer that keeps
// a CPU busy (docs/benchmarks.md, "Latest: a floor for the log path").
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

const (
	pipeSize   = 1 << 20
	readSize   = 128 << 10
	flushSize  = 256 << 10
	rotateAt   = 50 << 20
	kept       = 4 // rotated files, the live one not counted
	liveName   = "main.log"
	jsonPrefix = `{"time":"2026-12-02T07:00:00.123456789Z","program":"main","stream":"stdout","message":"`
	jsonSuffix = "\"}\n"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "files":
		err = files(os.Stdin, os.Args[2], rotateAt)
	case len(os.Args) == 2 && os.Args[1] == "json":
		err = jsonLines(os.Stdin, os.Stdout)
	default:
		fmt.Fprintln(os.Stderr, "usage: logfloor files DIR | logfloor json")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "logfloor:", err)
		os.Exit(1)
	}
}

// growPipe asks for a 1 MiB buffer when in is a pipe; elsewhere it fails
// harmlessly.
func growPipe(in *os.File) {
	unix.FcntlInt(in.Fd(), unix.F_SETPIPE_SZ, pipeSize)
}

// files copies in to dir/main.log, rotating it before it would pass limit
// bytes, at the last newline before that point.
func files(in *os.File, dir string, limit int) error {
	growPipe(in)
	live := filepath.Join(dir, liveName)
	f, err := os.Create(live)
	if err != nil {
		return err
	}
	var size int
	buf := make([]byte, readSize)
	for {
		n, rerr := in.Read(buf)
		data := buf[:n]
		for size+len(data) > limit {
			cut := bytes.LastIndexByte(data[:limit-size], '\n') + 1
			if cut == 0 && size == 0 {
				cut = limit // one line longer than a file
			}
			if _, err := f.Write(data[:cut]); err != nil {
				return err
			}
			data = data[cut:]
			if f, err = rotate(f, live); err != nil {
				return err
			}
			size = 0
		}
		if _, err := f.Write(data); err != nil {
			return err
		}
		size += len(data)
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// rotate closes f, shifts live's rotated files one up (deleting the
// oldest), renames live to live.1 and creates a new live file.
func rotate(f *os.File, live string) (*os.File, error) {
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := os.Remove(live + "." + strconv.Itoa(kept)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for i := kept - 1; i >= 1; i-- {
		err := os.Rename(live+"."+strconv.Itoa(i), live+"."+strconv.Itoa(i+1))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	if err := os.Rename(live, live+".1"); err != nil {
		return nil, err
	}
	return os.Create(live)
}

// jsonLines wraps every line of in in a JSON object and writes the objects
// to out: the reading goroutine formats into 256 KiB pieces, a second one
// writes them. Bytes after the last newline are not written (the
// benchmark's writers end every stream on one).
func jsonLines(in *os.File, out *os.File) error {
	growPipe(in)
	const inFlight = 4
	full := make(chan []byte, inFlight)
	free := make(chan []byte, inFlight)
	for range inFlight {
		free <- make([]byte, 0, flushSize+readSize)
	}
	written := make(chan error, 1)
	go func() {
		var err error
		for p := range full {
			if err == nil {
				_, err = out.Write(p)
			}
			free <- p[:0]
		}
		written <- err
	}()
	buf := make([]byte, readSize)
	p := <-free
	carry := 0
	var rerr error
	for {
		var n int
		n, rerr = in.Read(buf[carry:])
		data := buf[:carry+n]
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			p = append(p, jsonPrefix...)
			p = append(p, data[:i]...)
			p = append(p, jsonSuffix...)
			data = data[i+1:]
			if len(p) >= flushSize {
				full <- p
				p = <-free
			}
		}
		carry = copy(buf, data)
		if carry == len(buf) {
			rerr = errors.New("a line longer than the read buffer")
		}
		if rerr != nil {
			break
		}
	}
	full <- p
	close(full)
	werr := <-written
	if errors.Is(rerr, io.EOF) {
		rerr = nil
	}
	return errors.Join(rerr, werr)
}

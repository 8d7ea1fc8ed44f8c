// Command rollwriter writes a log file the way a Java service's logging
// library does, rotating it by size, for the tests of watched files:
//
//	rollwriter -dir DIR [-name app.log] -n LINES [-rate LINES_PER_S]
//	           [-size ROTATE_BYTES] [-keep N] [-mode rename|copytruncate]
//	           [-grow big.log -grow-rate BYTES_PER_S] [-done FILE] [-hold]
//
// Line i (from 0) is i in 8 decimal digits, a space, 'x' up to 100 bytes,
// and a newline, appended with O_APPEND as logback's FileAppender does.
// Before a line would take the file past -size it is rotated:
//
//   - rename (logback's FixedWindowRollingPolicy): app.log is closed,
//     app.N.log deleted, app.I.log renamed app.(I+1).log, app.log renamed
//     app.1.log, and a new app.log opened;
//   - copytruncate (logrotate's): app.log.I renamed app.log.(I+1), app.log
//     copied to app.log.1, then cut to zero bytes and written on.
//
// With -grow, a second file is opened for appending at start and grows by
// -grow-rate bytes per second (in 16 KiB writes) while the lines are
// written, and stays open: a file the program never closes. With -done,
// FILE is created once every line is written; with -hold, the program then
// waits for TERM or INT (keeping the files open).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	dir := flag.String("dir", ".", "directory of the log files")
	name := flag.String("name", "app.log", "live file name")
	n := flag.Int("n", 1000, "lines to write")
	rate := flag.Int("rate", 10000, "lines per second")
	size := flag.Int64("size", 256<<10, "rotation size in bytes")
	keep := flag.Int("keep", 5, "rotated files kept")
	mode := flag.String("mode", "rename", "rename or copytruncate")
	grow := flag.String("grow", "", "a second file that only grows, kept open")
	growRate := flag.Int64("grow-rate", 1<<20, "bytes per second the second file grows by")
	done := flag.String("done", "", "file created once every line is written")
	hold := flag.Bool("hold", false, "wait for TERM or INT at the end")
	flag.Parse()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	// The files stay open until the program exits, as a logging library
	// keeps them.
	if err := run(*dir, *name, *n, *rate, *size, *keep, *mode, *grow, *growRate); err != nil {
		fmt.Fprintln(os.Stderr, "rollwriter:", err)
		os.Exit(1)
	}
	if *done != "" {
		if err := os.WriteFile(*done, nil, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "rollwriter:", err)
			os.Exit(1)
		}
	}
	if *hold {
		<-sigs
	}
}

func openLog(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	return f, st.Size(), nil
}

func run(dir, name string, n, rate int, size int64, keep int, mode, grow string, growRate int64) error {
	live := filepath.Join(dir, name)
	f, written, err := openLog(live)
	if err != nil {
		return err
	}
	var big *os.File
	if grow != "" {
		if big, err = os.OpenFile(filepath.Join(dir, grow), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
			return err
		}
	}
	chunk := bytes.Repeat([]byte("g"), 16<<10)
	chunk[len(chunk)-1] = '\n'
	var grown int64
	start := time.Now()
	line := make([]byte, 0, 128)
	for i := 0; i < n; {
		el := time.Since(start).Seconds()
		due := int(el * float64(rate))
		for ; i < n && i <= due; i++ {
			line = fmt.Appendf(line[:0], "%08d %s\n", i, strings.Repeat("x", 90))
			if written+int64(len(line)) > size && written > 0 {
				if f, err = rotate(f, dir, name, keep, mode); err != nil {
					return err
				}
				written = 0
			}
			if _, err := f.Write(line); err != nil {
				return err
			}
			written += int64(len(line))
		}
		for big != nil && grown+int64(len(chunk)) <= int64(el*float64(growRate)) {
			if _, err := big.Write(chunk); err != nil {
				return err
			}
			grown += int64(len(chunk))
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// rotate rotates the live file and returns the file to write on.
func rotate(f *os.File, dir, name string, keep int, mode string) (*os.File, error) {
	live := filepath.Join(dir, name)
	if mode == "copytruncate" {
		for i := keep - 1; i >= 1; i-- {
			os.Rename(fmt.Sprintf("%s.%d", live, i), fmt.Sprintf("%s.%d", live, i+1))
		}
		if err := copyFile(live, live+".1"); err != nil {
			return nil, err
		}
		return f, f.Truncate(0)
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	numbered := func(i int) string { return filepath.Join(dir, fmt.Sprintf("%s.%d%s", stem, i, ext)) }
	os.Remove(numbered(keep))
	for i := keep - 1; i >= 1; i-- {
		os.Rename(numbered(i), numbered(i+1))
	}
	if err := os.Rename(live, numbered(1)); err != nil {
		return nil, err
	}
	nf, _, err := openLog(live)
	return nf, err
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

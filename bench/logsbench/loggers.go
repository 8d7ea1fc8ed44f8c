package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Rotation shared by every rotating logger: tend's defaults (50 MiB files,
// 5 kept, the live one included), and the same for the peers (s6-log's and
// svlogd's n4 and supervisord's backups=4 count the rotated files only).
const (
	rotation = 50 << 20
	archives = 4
)

// result is one run of one cell (a writer through a logger).
type result struct {
	wall  time.Duration
	cpu   time.Duration // the logger's own user+system time; -1: no logger
	rss   int64         // the logger's peak RSS in KiB; 0: not measured
	check string        // what was checked of the output
	err   error         // the run failed, or its output was wrong
}

// logger is one way of taking the writer's output.
type logger struct {
	key  string // its name in -cases and -peers
	name string // its name in the tables
	// needs is the program that must be installed, "" for none.
	needs string
	run   func(b *bench, w writer, s stream) result
}

// loggers are every case, in the tables' order. A | in a name is escaped:
// the names go into markdown tables.
var loggers = []logger{
	{key: "null", name: "writer > /dev/null (no logger)", run: (*bench).null},
	{key: "cat", name: "`writer \\| cat > file`", needs: "cat", run: (*bench).cat},
	{key: "tend-files", name: "tend, raw to files (TEND_LOG_DIR, defaults)", run: (*bench).tendFiles},
	{key: "tend-json", name: "tend, json console > file", run: tendConsole("json")},
	{key: "tend-raw", name: "tend, raw console > file", run: tendConsole("raw")},
	{key: "tend-json-pipe", name: "tend, json console \\| cat > file", run: tendConsolePiped("json")},
	{key: "base-files", name: "tend at -base, raw to files (TEND_LOG_DIR, defaults)", run: onBase((*bench).tendFiles)},
	{key: "base-json", name: "tend at -base, json console > file", run: onBase(tendConsole("json"))},
	{key: "base-json-pipe", name: "tend at -base, json console \\| cat > file", run: onBase(tendConsolePiped("json"))},
	{key: "floor-files", name: "floor: `writer \\| logfloor files DIR` (rotating, synced at the end)", run: (*bench).floorFiles},
	{key: "floor-json", name: "floor: `writer \\| logfloor json > file` (two threads, no escaping)", run: (*bench).floorJSON},
	{key: "s6-log", name: "`writer \\| s6-log n4 s52428800 DIR`", needs: "s6-log", run: (*bench).s6log},
	{key: "svlogd", name: "`writer \\| svlogd DIR` (s52428800, n4)", needs: "svlogd", run: (*bench).svlogd},
	{key: "tini", name: "`tini -s -- writer > file`", needs: "tini", run: (*bench).tini},
	{key: "supervisord", name: "supervisord, stdout_logfile (50MB, backups=4)", needs: "supervisord", run: (*bench).supervisord},
}

// bench holds what every run needs.
type bench struct {
	tend, gen, javaDir, scratch string
	floor                       string // bench/logfloor, built for the run
	base                        string // -base: another tend binary, for the base-* cases
}

// onBase runs a tend case with the -base binary, to compare two builds of
// tend within one run.
func onBase(run func(*bench, writer, stream) result) func(*bench, writer, stream) result {
	return func(b *bench, w writer, s stream) result {
		if b.base == "" {
			return failed(errors.New("the base-* cases need -base"))
		}
		c := *b
		c.tend = b.base
		return run(&c, w, s)
	}
}

// out creates the file the output of a run goes to.
func (b *bench) out(name string) (*os.File, error) {
	return os.Create(filepath.Join(b.scratch, name))
}

// dir creates a directory for a rotating logger.
func (b *bench) dir(name string) (string, error) {
	d := filepath.Join(b.scratch, name)
	return d, os.Mkdir(d, 0o755)
}

func failed(err error) result { return result{err: err} }

func (b *bench) null(w writer, s stream) result {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return failed(err)
	}
	defer devnull.Close()
	argv := w.argv(b, s.lines)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = devnull
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return failed(fmt.Errorf("%s: %w", w.name, err))
	}
	return result{wall: time.Since(start), cpu: -1, check: "—"}
}

func (b *bench) cat(w writer, s stream) result {
	out, err := b.out("out")
	if err != nil {
		return failed(err)
	}
	defer out.Close()
	r := b.pipeline(w, s, exec.Command("cat"), out)
	return r.checked(checkFile(out.Name(), s), "whole file")
}

// floorFiles is bench/logfloor writing rotated files: the work of
// tend-files that no collector can skip, in a bare loop.
func (b *bench) floorFiles(w writer, s stream) result {
	dir, err := b.dir("floor-files")
	if err != nil {
		return failed(err)
	}
	return b.rotating(dir, "main.log", s, func(*rotationWatch) result {
		return b.pipeline(w, s, exec.Command(b.floor, "files", dir), nil)
	})
}

// floorJSON is bench/logfloor writing JSON lines to a file: the work of
// tend-json that no collector can skip (but the escaping scan), in a bare
// loop.
func (b *bench) floorJSON(w writer, s stream) result {
	out, err := b.out("out")
	if err != nil {
		return failed(err)
	}
	defer out.Close()
	r := b.pipeline(w, s, exec.Command(b.floor, "json"), out)
	return r.checkedConsole(out.Name(), s, "json")
}

func (b *bench) s6log(w writer, s stream) result {
	dir, err := b.dir("s6")
	if err != nil {
		return failed(err)
	}
	return b.rotating(dir, "current", s, func(*rotationWatch) result {
		return b.pipeline(w, s, exec.Command("s6-log", "n"+strconv.Itoa(archives), "s"+strconv.Itoa(rotation), dir), nil)
	})
}

func (b *bench) svlogd(w writer, s stream) result {
	dir, err := b.dir("sv")
	if err != nil {
		return failed(err)
	}
	config := fmt.Sprintf("s%d\nn%d\n", rotation, archives)
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o644); err != nil {
		return failed(err)
	}
	return b.rotating(dir, "current", s, func(*rotationWatch) result {
		return b.pipeline(w, s, exec.Command("svlogd", dir), nil)
	})
}

func (b *bench) tendFiles(w writer, s stream) result {
	dir, err := b.dir("tend")
	if err != nil {
		return failed(err)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return failed(err)
	}
	defer devnull.Close()
	return b.rotating(dir, "main.log", s, func(*rotationWatch) result {
		return b.supervised(b.tendCmd(w, s, devnull, "TEND_LOG_DIR="+dir))
	})
}

// tendConsole is `tend -- writer > file` with the console in format.
func tendConsole(format string) func(*bench, writer, stream) result {
	return func(b *bench, w writer, s stream) result {
		out, err := b.out("out")
		if err != nil {
			return failed(err)
		}
		defer out.Close()
		r := b.supervised(b.tendCmd(w, s, out, "TEND_LOG_FORMAT="+format))
		return r.checkedConsole(out.Name(), s, format)
	}
}

// checkedConsole checks a console's output, in format, in the file path.
func (r result) checkedConsole(path string, s stream, format string) result {
	if format == "json" {
		return r.checked(checkJSON(path, s), "every record")
	}
	return r.checked(checkFile(path, s), "whole file")
}

// tendConsolePiped is `tend -- writer | cat > file` with the console in
// format: tend's stdout a pipe, as a container runtime hands it over, that
// cat (the runtime's log reader) copies to the file. The wall time runs
// until cat has written the last byte; the CPU time is tend's.
func tendConsolePiped(format string) func(*bench, writer, stream) result {
	return func(b *bench, w writer, s stream) result {
		out, err := b.out("out")
		if err != nil {
			return failed(err)
		}
		defer out.Close()
		pr, pw, err := os.Pipe()
		if err != nil {
			return failed(err)
		}
		collector := exec.Command("cat")
		collector.Stdin, collector.Stdout, collector.Stderr = pr, out, os.Stderr
		cmd := b.tendCmd(w, s, pw, "TEND_LOG_FORMAT="+format)
		start := time.Now()
		err = collector.Start()
		pr.Close()
		if err != nil {
			pw.Close()
			return failed(err)
		}
		err = cmd.Start()
		pw.Close()
		if err != nil {
			collector.Process.Kill()
			collector.Wait()
			return failed(err)
		}
		r := b.measureExit(cmd, start, sampleHWM(cmd.Process.Pid))
		if err := collector.Wait(); err != nil && r.err == nil {
			r.err = fmt.Errorf("cat: %w", err)
		}
		r.wall = time.Since(start)
		return r.checkedConsole(out.Name(), s, format)
	}
}

func (b *bench) tini(w writer, s stream) result {
	out, err := b.out("out")
	if err != nil {
		return failed(err)
	}
	defer out.Close()
	// -s: a subreaper, as tend makes itself when it is not PID 1.
	cmd := exec.Command("tini", append([]string{"-s", "--"}, w.argv(b, s.lines)...)...)
	cmd.Stdout = out
	cmd.Stderr = os.Stderr
	r := b.supervised(cmd)
	return r.checked(checkFile(out.Name(), s), "whole file")
}

// tendCmd is `tend -- writer` with stdout to out, settings env and nothing
// else from this environment's TEND_ variables.
func (b *bench) tendCmd(w writer, s stream, out *os.File, env ...string) *exec.Cmd {
	conf := filepath.Join(b.scratch, "conf")
	os.MkdirAll(conf, 0o755)
	cmd := exec.Command(b.tend, append([]string{"--"}, w.argv(b, s.lines)...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TEND_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TEND_CONFIG_DIR="+conf, "TEND_SOCKET="+filepath.Join(b.scratch, "tend.sock"))
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout = out
	cmd.Stderr = os.Stderr
	return cmd
}

// checked adds the output check to a run.
func (r result) checked(err error, what string) result {
	if r.err == nil {
		r.err = err
	}
	r.check = what
	return r
}

// rotating runs a rotating logger with its directory watched, then checks
// what it wrote there.
func (b *bench) rotating(dir, live string, s stream, run func(*rotationWatch) result) result {
	watch, err := watchRotation(dir, live)
	if err != nil {
		return failed(err)
	}
	r := run(watch)
	watch.stop()
	for _, n := range watch.notes {
		fmt.Fprintln(os.Stderr, "logsbench:", n)
	}
	files, kept, err := watch.check(s)
	if r.err != nil && err != nil {
		// Both: the run's failure may come from the watch's.
		r.err = errors.Join(r.err, err)
	}
	return r.checked(err, fmt.Sprintf("%d files: %d whole, %d deleted ones by size, first and last line", files, kept, files-kept))
}

// pipeline runs `writer | logger` with the logger's stdout to out (nil:
// /dev/null) and measures the logger.
func (b *bench) pipeline(w writer, s stream, logger *exec.Cmd, out *os.File) result {
	pr, pw, err := os.Pipe()
	if err != nil {
		return failed(err)
	}
	argv := w.argv(b, s.lines)
	gen := exec.Command(argv[0], argv[1:]...)
	gen.Stdout = pw
	gen.Stderr = os.Stderr
	logger.Stdin = pr
	if out != nil {
		logger.Stdout = out
	}
	logger.Stderr = os.Stderr
	start := time.Now()
	if err := logger.Start(); err != nil {
		pr.Close()
		pw.Close()
		return failed(err)
	}
	err = gen.Start()
	pw.Close()
	pr.Close()
	if err != nil {
		logger.Process.Kill()
		logger.Wait()
		return failed(err)
	}
	peak := sampleHWM(logger.Process.Pid)
	genErr := gen.Wait()
	r := b.measureExit(logger, start, peak)
	if r.err == nil && genErr != nil {
		r.err = fmt.Errorf("%s: %w", w.name, genErr)
	}
	return r
}

// supervised runs cmd, a supervisor whose child is the writer, and
// measures the supervisor alone.
func (b *bench) supervised(cmd *exec.Cmd) result {
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return failed(err)
	}
	return b.measureExit(cmd, start, sampleHWM(cmd.Process.Pid))
}

// measureExit waits for the started cmd to exit and takes its wall time
// from start, its own CPU time (children it reaped left out) and its peak
// RSS, then reaps it.
func (b *bench) measureExit(cmd *exec.Cmd, start time.Time, peak <-chan int64) result {
	pid := cmd.Process.Pid
	exitErr := waitExited(pid)
	wall := time.Since(start)
	times, timesErr := readTimes(pid)
	waitErr := cmd.Wait()
	r := result{wall: wall, cpu: times.self, rss: <-peak}
	switch {
	case exitErr != nil:
		r.err = exitErr
	case timesErr != nil:
		r.err = timesErr
	case waitErr != nil:
		r.err = fmt.Errorf("%s: %w", filepath.Base(cmd.Path), waitErr)
	default:
		// The rusage wait4 returns is the process's own time plus its
		// reaped children's: a cross-check of the split read from /proc
		// (which counts in 10 ms ticks).
		ps := cmd.ProcessState
		total := ps.UserTime() + ps.SystemTime()
		if d := total - times.self - times.children; d > 50*time.Millisecond+total/20 || -d > 50*time.Millisecond+total/20 {
			fmt.Fprintf(os.Stderr, "logsbench: %s: /proc gives %v own + %v children, rusage %v in all\n",
				filepath.Base(cmd.Path), times.self, times.children, total)
		}
	}
	return r
}

// supervisordConf is the configuration for one run: the writer as the
// only program, its stdout to a rotated file with tend's defaults.
const supervisordConf = `[supervisord]
nodaemon=true
logfile=%[1]s/supervisord.log
pidfile=%[1]s/supervisord.pid
childlogdir=%[1]s

[program:writer]
command=%[2]s
autostart=true
autorestart=false
startsecs=0
stdout_logfile=%[3]s/writer.log
stdout_logfile_maxbytes=50MB
stdout_logfile_backups=%[4]d
stderr_logfile=%[1]s/writer.err
`

// supervisord runs the writer under supervisord. supervisord does not exit
// when its program does, and spawns it about a second after its own
// start: the clock and the CPU count start when the writer appears as its
// child, and stop when every byte is in the files.
func (b *bench) supervisord(w writer, s stream) result {
	dir, err := b.dir("sup")
	if err != nil {
		return failed(err)
	}
	home, err := b.dir("supervisord")
	if err != nil {
		return failed(err)
	}
	var quoted []string
	for _, a := range w.argv(b, s.lines) {
		quoted = append(quoted, strconv.Quote(a))
	}
	conf := filepath.Join(home, "supervisord.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, supervisordConf, home, strings.Join(quoted, " "), dir, archives), 0o644); err != nil {
		return failed(err)
	}
	return b.rotating(dir, "writer.log", s, func(watch *rotationWatch) result {
		cmd := exec.Command("supervisord", "-c", conf)
		cmd.Stdout = nil
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return failed(err)
		}
		pid := cmd.Process.Pid
		defer func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}()
		deadline := time.Now().Add(30 * time.Second)
		for len(childrenOf(pid)) == 0 {
			if time.Now().After(deadline) {
				return failed(fmt.Errorf("supervisord did not start the writer in 30 s (see %s/supervisord.log)", home))
			}
			time.Sleep(time.Millisecond)
		}
		start := time.Now()
		before, err := readTimes(pid)
		if err != nil {
			return failed(err)
		}
		return b.untilWritten(pid, start, before, s, watch.written)
	})
}

// untilWritten waits until written() reaches the stream's size, with no
// more than 30 s without progress, then measures the running logger pid
// from start and the CPU time it had then.
func (b *bench) untilWritten(pid int, start time.Time, before procTimes, s stream, written func() int64) result {
	var last int64
	progress := time.Now()
	for {
		n := written()
		if n >= s.size() {
			break
		}
		if n != last {
			last, progress = n, time.Now()
		} else if time.Since(progress) > 30*time.Second {
			return failed(fmt.Errorf("output stuck at %d of %d bytes for 30 s", n, s.size()))
		}
		time.Sleep(2 * time.Millisecond)
	}
	wall := time.Since(start)
	after, err := readTimes(pid)
	if err != nil {
		return failed(err)
	}
	rss, _ := readHWM(fmt.Sprintf("/proc/%d/status", pid))
	return result{wall: wall, cpu: after.self - before.self, rss: rss}
}

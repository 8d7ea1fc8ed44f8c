package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"tend/config"
	"tend/hooks"
	"tend/logship"
	"tend/reaper"
	"tend/supervisor"
)

// shipperLogs adapts the log pipeline to what the supervisor and the
// drain hooks need: captures named by program and stream.
type shipperLogs struct {
	*logship.Shipper
	cfg *config.Config
}

var _ supervisor.Logs = shipperLogs{}

// newLogs builds the log pipeline for cfg, writing the console to tend's
// own stdout and stderr, forwarding to Fluentd when configured, and
// running TEND_ON_LOG_CLEANUP through r after each cleanup.
func newLogs(cfg *config.Config, r *reaper.Reaper, log *zap.Logger) (shipperLogs, error) {
	l := shipperLogs{cfg: cfg}
	opts := logship.Options{
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Logger: log,
		Fluent: cfg.Fluent,
	}
	if len(cfg.Log.OnCleanup) > 0 {
		opts.CleanupHook = func(ctx context.Context, rm logship.Removal) error {
			return l.runCleanupHook(ctx, r, rm)
		}
	}
	sh, err := logship.New(cfg.Log, opts)
	if err != nil {
		return shipperLogs{}, err
	}
	l.Shipper = sh
	return l, nil
}

// watch starts watching TEND_LOG_WATCH, if set; pids gives the running
// programs for auto.
func (l shipperLogs) watch(pids func() map[string]int) error {
	if len(l.cfg.Log.Watch) == 0 {
		return nil
	}
	return l.Shipper.Watch(logship.WatchOptions{
		Patterns: l.cfg.Log.Watch,
		Tail:     l.cfg.Log.Tail,
		Programs: pids,
		Source:   func(name string) logship.Source { return logship.SourceOf(l.cfg.Log, l.program(name)) },
	})
}

// runCleanupHook runs TEND_ON_LOG_CLEANUP for one cleanup, through the
// reaper, its output logged as program "cleanup".
func (l shipperLogs) runCleanupHook(ctx context.Context, r *reaper.Reaper, rm logship.Removal) error {
	action := "deleted"
	if rm.Truncated {
		action = "truncated"
	}
	env := append(os.Environ(),
		"TEND_CLEANUP_FILE="+rm.Path,
		"TEND_CLEANUP_BYTES="+strconv.FormatInt(rm.Bytes, 10),
		"TEND_CLEANUP_REASON="+rm.Reason,
		"TEND_CLEANUP_ACTION="+action,
		"TEND_CLEANUP_PROGRAM="+rm.Owner,
	)
	spec := reaper.Spec{Argv: l.cfg.Log.OnCleanup, Env: env}
	for _, stream := range []string{"stdout", "stderr"} {
		pr, pw, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("cleanup hook: %w", err)
		}
		l.Capture("cleanup", stream, pr)
		defer pw.Close()
		if stream == "stdout" {
			spec.Stdout = pw
		} else {
			spec.Stderr = pw
		}
	}
	code, err := hooks.Run(ctx, r, spec)
	if err != nil {
		return fmt.Errorf("cleanup hook: %w", err)
	}
	if code != 0 {
		return fmt.Errorf("cleanup hook exited with code %d", code)
	}
	return nil
}

// program returns the configuration of a program by name; programs tend
// starts for itself (such as the pre-stop hook) and names given to
// watched files get the global log settings.
func (l shipperLogs) program(name string) config.Program {
	p := config.Program{Name: name, LogRate: -1, LogBurst: -1, LogMultiline: "-"}
	if name == l.cfg.Main.Name {
		p = l.cfg.Main
	}
	for _, side := range l.cfg.Programs {
		if side.Name == name {
			p = side
		}
	}
	return p
}

// Capture reads one stream of a program.
func (l shipperLogs) Capture(program, stream string, r *os.File) {
	s := logship.Stdout
	if stream == "stderr" {
		s = logship.Stderr
	}
	l.Shipper.Capture(logship.SourceOf(l.cfg.Log, l.program(program)), s, r)
}

// Stats returns one program's log counters.
func (l shipperLogs) Stats(program string) logship.ProgramStats {
	return l.Shipper.Stats()[program]
}

// Close reads every capture to EOF and flushes every sink within ctx.
func (l shipperLogs) Close(ctx context.Context) error { return l.Shipper.Close(ctx) }

// printLogStatus renders the disk budget, the watched files, the recent
// cleanups and the Fluentd sink for `tend status`.
func printLogStatus(w io.Writer, st *logship.Status) {
	if st == nil {
		return
	}
	if st.DiskBudget > 0 {
		fmt.Fprintf(w, "\nlog disk: %s of %s\n", config.FormatSize(st.DiskUsed), config.FormatSize(st.DiskBudget))
	}
	if len(st.Watched) > 0 {
		fmt.Fprintln(w, "\nwatched files:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  PROGRAM\tSIZE\tOPEN\tTAILED\tFILE")
		for _, f := range st.Watched {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", f.Program, config.FormatSize(f.Bytes), yesNo(f.Open), yesNo(f.Tailed), f.Path)
		}
		tw.Flush()
		if st.WatchedMore > 0 {
			fmt.Fprintf(w, "  and %d more\n", st.WatchedMore)
		}
	}
	if st.CleanupsTotal > 0 {
		fmt.Fprintf(w, "\nlog cleanups: %d, %s freed", st.CleanupsTotal, config.FormatSize(st.CleanedBytes))
		if st.HooksSkipped > 0 || st.HooksFailed > 0 {
			fmt.Fprintf(w, " (hook skipped %d, failed %d)", st.HooksSkipped, st.HooksFailed)
		}
		fmt.Fprintln(w)
		for _, c := range st.Cleanups {
			fmt.Fprintf(w, "  %s %s %s %s (%s)\n", c.Time.Format(time.TimeOnly), c.Action, c.File, config.FormatSize(c.Bytes), c.Reason)
		}
	}
	if f := st.Fluent; f != nil {
		state := "connected"
		if !f.Connected {
			state = "not connected"
		}
		fmt.Fprintf(w, "\nfluentd %s: %s, %d sent, %d buffered, %d dropped, %d failed sends\n", f.Addr, state, f.Sent, f.Buffered, f.Dropped.Lines, f.Failures)
		if f.LastError != "" && !f.Connected {
			fmt.Fprintf(w, "  last error: %s\n", f.LastError)
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

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

	"tend/budget"
	"tend/config"
	"tend/hooks"
	"tend/logship"
	"tend/logship/console"
	"tend/logship/fluent"
	"tend/logship/logfile"
	"tend/reaper"
	"tend/supervisor"
	"tend/watch"
)

var _ supervisor.Logs = (*logship.Pipeline)(nil)

// newLogs builds the log pipeline for cfg: the disk budget, and the sinks
// (the console on tend's own stdout and stderr, each program's files when
// TEND_LOG_DIR is set, Fluentd when TEND_FLUENT_ADDR is), with
// TEND_ON_LOG_CLEANUP run through r after each cleanup.
func newLogs(cfg *config.Config, r *reaper.Reaper, log *zap.Logger) (*logship.Pipeline, *budget.Budget, error) {
	var pl *logship.Pipeline
	bo := budget.Options{Limit: cfg.Log.DiskBudget, MinFree: cfg.Log.MinFree, Logger: log}
	if len(cfg.Log.OnCleanup) > 0 {
		bo.Hook = func(ctx context.Context, rm budget.Removal) error {
			return runCleanupHook(ctx, r, cfg.Log.OnCleanup, rm, pl)
		}
	}
	b := budget.New(bo)
	var sinks []logship.Sink
	if f := cfg.Fluent; f.Addr != "" {
		s, err := fluent.New(f, log)
		if err != nil {
			return nil, nil, err
		}
		sinks = append(sinks, s)
	}
	c, err := console.New(cfg.Log, os.Stdout, os.Stderr, log)
	if err != nil {
		return nil, nil, err
	}
	sinks = append(sinks, c)
	if cfg.Log.Dir != "" {
		s, err := logfile.New(cfg.Log, b, log)
		if err != nil {
			return nil, nil, err
		}
		sinks = append(sinks, s)
	}
	pl, err = logship.New(cfg.Log, logship.Options{
		Logger:   log,
		PipeWait: cfg.Stop.FlushReserve,
		Budget:   b,
		Programs: append([]config.Program{cfg.Main}, cfg.Programs...),
	}, sinks...)
	if err != nil {
		return nil, nil, err
	}
	return pl, b, nil
}

// watchLogs starts watching TEND_LOG_WATCH, if set; pids gives the running
// programs for auto. The pipeline's Close stops the watcher.
func watchLogs(cfg *config.Config, pl *logship.Pipeline, b *budget.Budget, pids func() map[string]int, log *zap.Logger) error {
	if len(cfg.Log.Watch) == 0 {
		return nil
	}
	_, err := watch.Start(pl, b, watch.Options{
		Patterns: cfg.Log.Watch,
		Tail:     cfg.Log.Tail,
		Programs: pids,
		LogDir:   cfg.Log.Dir,
		Logger:   log,
	})
	return err
}

// runCleanupHook runs TEND_ON_LOG_CLEANUP (argv) for one cleanup, through
// the reaper, its output logged as program "cleanup".
func runCleanupHook(ctx context.Context, r *reaper.Reaper, argv []string, rm budget.Removal, out hooks.Capturer) error {
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
	code, err := hooks.RunLogged(ctx, r, reaper.Spec{Argv: argv, Env: env}, "cleanup", out)
	if err != nil {
		return fmt.Errorf("cleanup hook: %w", err)
	}
	if code != 0 {
		return fmt.Errorf("cleanup hook exited with code %d", code)
	}
	return nil
}

// printLogStatus renders the disk budget, the watched files, the recent
// cleanups and the Fluentd sink for `tend status`.
func printLogStatus(w io.Writer, st *logship.Status) {
	if st == nil {
		return
	}
	var parts struct {
		watch.Status
		Fluent *fluent.Status `json:"fluent"`
	}
	if err := st.Decode(&parts); err != nil {
		fmt.Fprintf(w, "\nlogs: %v\n", err)
	}
	if st.DiskBudget > 0 {
		fmt.Fprintf(w, "\nlog disk: %s of %s\n", config.FormatSize(st.DiskUsed), config.FormatSize(st.DiskBudget))
	}
	if len(parts.Watched) > 0 {
		fmt.Fprintln(w, "\nwatched files:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  PROGRAM\tSIZE\tOPEN\tTAILED\tFILE")
		for _, f := range parts.Watched {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", f.Program, config.FormatSize(f.Bytes), yesNo(f.Open), yesNo(f.Tailed), f.Path)
		}
		tw.Flush()
		if parts.WatchedMore > 0 {
			fmt.Fprintf(w, "  and %d more\n", parts.WatchedMore)
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
	if f := parts.Fluent; f != nil {
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

package main

import (
	"os"

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
	bo := budget.Options{Limit: cfg.Log.DiskBudget, MinFree: cfg.Log.MinFree, Logger: log}
	cleanup := &hooks.Cleanup{Argv: cfg.Log.OnCleanup, Env: os.Environ(), Reaper: r}
	if len(cfg.Log.OnCleanup) > 0 {
		bo.Hook = cleanup.Run
	}
	b := budget.New(bo)
	var sinks []logship.Sink
	if f := cfg.Fluent; f.Addr != "" {
		s, err := fluent.New(f, fluent.Options{Logger: log, Budget: b, Blocking: cfg.Log.Mode != config.ModeNonBlocking})
		if err != nil {
			return nil, nil, err
		}
		sinks = append(sinks, s)
	}
	c, err := console.New(cfg.Log, os.Stdout, os.Stderr, log)
	if err != nil {
		return nil, nil, closeSinks(sinks, err)
	}
	sinks = append(sinks, c)
	if cfg.Log.Dir != "" {
		s, err := logfile.New(cfg.Log, b, log)
		if err != nil {
			return nil, nil, closeSinks(sinks, err)
		}
		sinks = append(sinks, s)
	}
	pl, err := logship.New(cfg.Log, logship.Options{
		Logger:   log,
		PipeWait: cfg.Stop.FlushReserve,
		Budget:   b,
		Programs: append([]config.Program{cfg.Main}, cfg.Programs...),
	}, sinks...)
	if err != nil {
		return nil, nil, closeSinks(sinks, err)
	}
	// The hook's output goes to the pipeline, which needs the budget
	// first. The budget cleans up only once files are written or watched,
	// which starts with the programs and the watcher, after this.
	cleanup.Out = pl
	return pl, b, nil
}

// closeSinks closes the sinks built before err stopped newLogs, and
// returns err.
func closeSinks(sinks []logship.Sink, err error) error {
	for _, s := range sinks {
		closeWithin(s.Close)
	}
	return err
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

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"tend/admin"
	"tend/config"
	"tend/hooks"
	"tend/internal/gcpace"
	"tend/lifecycle"
	"tend/reaper"
	"tend/resources"
	"tend/supervisor"
)

// profileInterval is how often program usage is sampled for tend profile.
const profileInterval = 5 * time.Second

// runSupervisor validates the configuration, then runs argv as the main
// program with every side program until the stop sequence ends. Nothing
// starts when the configuration is invalid.
func runSupervisor(argv []string, stderr io.Writer) int {
	// The handlers come first, before anything that can take time: until
	// they are installed, a TERM takes Go's default action (exit 2 as PID
	// 1) instead of starting the stop. What remains unprotected is the Go
	// runtime's own start, before main.
	signals := supervisor.CatchSignals()
	// From the first collection on, the next comes sooner when much is
	// live (a full Fluentd buffer), so that tend stays under 32 MiB.
	gcpace.Start()
	cfg, err := config.Load(config.Options{Env: os.Environ(), Args: argv, RequireMain: true})
	if err != nil {
		reportConfigError(stderr, err)
		return exitBadInput
	}
	log := newLogger(cfg.Events)
	for _, w := range cfg.Warnings {
		log.Warn("configuration", zap.String("warning", w))
	}
	// The control socket is taken before anything is set up, so that a
	// second tend on the same socket touches nothing (not even log files)
	// and exits 2.
	ctl, err := admin.Listen(cfg.Admin.Socket)
	switch {
	case errors.Is(err, admin.ErrNotSocket), errors.Is(err, admin.ErrInUse):
		reportConfigError(stderr, socketError(cfg.Admin.Socket, err))
		return exitBadInput
	case err != nil:
		// Not the value's fault (a read-only /run, say): tend runs on,
		// without control commands.
		log.Error("control commands unavailable", zap.Error(err))
		ctl = nil
	}

	// The long-running parts are the actors of one group, each started
	// as soon as what it needs exists. On the way out they stop in the
	// reverse order: the supervisor first (its stop sequence closes the
	// log pipeline), then the sampler and the admin servers (they answer
	// until the stop is over), then the reaper (the stop has processes to
	// reap), and the socket last. A failure before the supervisor starts
	// stops what was started (failed).
	var g lifecycle.Group
	if ctl != nil {
		g.Close("control socket", func() error { return closeWithin(ctl.Close) })
	}
	failed := func(code int) int {
		g.Stop(nil)
		return code
	}
	if err := reaper.CloseInheritedOnExec(); err != nil {
		log.Debug("inherited descriptors may reach programs", zap.Error(err))
	}
	if err := reaper.BecomeSubreaper(); err != nil {
		log.Error("cannot become a child subreaper; orphans will not be reaped", zap.Error(err))
	}
	// The reaper runs before anything can start a process.
	r := reaper.New(log)
	g.Go("reaper", r.Run)

	limits := func() resources.Limits { return resources.ReadLimits("/sys/fs/cgroup") }
	logs, disk, err := newLogs(cfg, r, log)
	if err != nil {
		fmt.Fprintf(stderr, "tend: %v\n", err)
		return failed(exitFailure)
	}
	// Until the supervisor runs (its stop sequence closes the pipeline),
	// a failure closes the pipeline here.
	failed = func(code int) int {
		closeWithin(logs.Close)
		g.Stop(nil)
		return code
	}
	sup, err := supervisor.New(supervisor.Options{
		Config: cfg, Logs: logs, Reaper: r, Logger: log, Env: os.Environ(),
		MainEnv: javaAutotune(cfg, limits, log),
		Drainer: hooks.NewDrainer(cfg.Stop, r, logs, os.Environ(), log),
		Signals: signals,
	})
	if err != nil {
		log.Error("cannot set up programs", zap.Error(err))
		return failed(exitFailure)
	}
	// No sample while memory is short: reading /proc then could make the
	// kernel kill tend (see resources.MemoryWatch.Short).
	sampled := func() map[string]int {
		if sup.MemoryShort() {
			return nil
		}
		return sup.Pids()
	}
	sampler := resources.NewSampler(profileInterval, limits, sampled)
	g.Go("sampler", func(ctx context.Context) error { sampler.Run(ctx); return nil })
	if cfg.Admin.HTTPAddr != "" {
		web, err := admin.ServeHTTP(cfg.Admin.HTTPAddr, sup, func() []admin.Metric { return admin.StatusMetrics(sup.Status()) }, log)
		if err != nil {
			fmt.Fprintf(stderr, "tend: TEND_HTTP_ADDR=%q: %v; nothing was started\n", cfg.Admin.HTTPAddr, err)
			return failed(exitFailure)
		}
		g.Close("admin HTTP", func() error { return closeWithin(web.Close) })
	}
	if ctl != nil {
		ctl.Serve(sup, sampler, log)
	}
	// The memory watch's set-up (finding tend's cgroup, opening and
	// reading its files: a quarter of a millisecond) runs in its actor,
	// beside the programs' start, which leaves a CPU waiting while the
	// first program is forked and executed. Without memory accounting it
	// has nothing to do.
	g.Go("memory watch", func(ctx context.Context) error {
		if watch := memoryWatch(cfg, sup, r, logs, log); watch != nil {
			return watch(ctx)
		}
		<-ctx.Done()
		return nil
	})
	log.Info("tend started", zap.String("version", version), zap.Int("pid", os.Getpid()),
		zap.Strings("main", cfg.Main.Command), zap.Int("side_programs", len(cfg.Programs)))
	// Files existing now are tailed from their end; the pipeline's Close,
	// in the stop sequence, stops the watcher.
	if err := watchLogs(cfg, logs, disk, sup.Pids, log); err != nil {
		log.Error("cannot watch TEND_LOG_WATCH; the files are not kept under the budget", zap.Error(err))
	}
	code := exitOK
	g.Go("supervisor", func(ctx context.Context) error { code = sup.Run(ctx); return nil })
	if err := g.Wait(); err != nil {
		log.Error("stopped early", zap.Error(err))
	}
	log.Info("exiting", zap.Int("code", code))
	return code
}

// javaAutotune returns what TEND_JAVA_AUTOTUNE adds to the main program's
// environment, if it is on.
func javaAutotune(cfg *config.Config, limits func() resources.Limits, log *zap.Logger) []string {
	if !cfg.JavaAutotune {
		return nil
	}
	l := limits()
	env := resources.JavaAutotune(cfg.Main.Command, append(os.Environ(), cfg.Main.Environment...), l)
	log.Info("java autotune", zap.Strings("environment", env),
		zap.Int64("memory_limit", l.MemoryBytes), zap.Float64("cpus", l.CPUs), zap.String("source", l.Source))
	return env
}

// closeWithin closes an admin server, giving requests in flight a moment.
func closeWithin(close func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return close(ctx)
}

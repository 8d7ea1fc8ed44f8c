package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"tend/admin"
	"tend/config"
	"tend/hooks"
	"tend/reaper"
	"tend/resources"
	"tend/supervisor"
)

// runSupervisor validates the configuration, then runs argv as the main
// program with every side program until the stop sequence ends. Nothing
// starts when the configuration is invalid.
func runSupervisor(argv []string, stderr io.Writer) int {
	// The handlers come first, before anything that can take time: until
	// they are installed, a TERM takes Go's default action (exit 2 as PID
	// 1) instead of starting the stop. What remains unprotected is the Go
	// runtime's own start, before main, about a millisecond.
	signals := supervisor.CatchSignals()
	cfg, err := config.Load(config.Options{Env: os.Environ(), Args: argv, RequireMain: true})
	if err != nil {
		reportConfigError(stderr, err)
		return exitBadInput
	}
	log := newLogger(cfg.Events)
	defer log.Sync()
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
	default:
		defer closeWithin(ctl.Close)
	}
	// Descriptors inherited from whoever started tend (beyond 0, 1, 2) must
	// not leak into programs: an inherited pipe held open by a program
	// would keep its reader from ever seeing EOF.
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err != nil {
		log.Debug("cannot mark inherited descriptors close-on-exec", zap.Error(err))
	}
	if err := reaper.BecomeSubreaper(); err != nil {
		log.Error("cannot become a child subreaper; orphans will not be reaped", zap.Error(err))
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := reaper.New(log)
	reaped := make(chan struct{})
	go func() {
		defer close(reaped)
		r.Run(ctx)
	}()
	defer func() { cancel(); <-reaped }()

	limits := func() resources.Limits { return resources.ReadLimits("/sys/fs/cgroup") }
	if cfg.JavaAutotune {
		autotuneJava(cfg, limits(), log)
	}
	logs, disk, err := newLogs(cfg, r, log)
	if err != nil {
		fmt.Fprintf(stderr, "tend: %v\n", err)
		return exitFailure
	}
	sup, err := supervisor.New(supervisor.Options{
		Config: cfg, Logs: logs, Reaper: r, Logger: log, Env: os.Environ(),
		Drainer: hooks.NewDrainer(cfg.Stop, r, logs, os.Environ(), log),
		Signals: signals,
	})
	if err != nil {
		log.Error("cannot set up programs", zap.Error(err))
		return exitFailure
	}
	sampler := resources.NewSampler(profileInterval, limits, sup.Pids)
	go sampler.Run(ctx)
	if ctl != nil {
		ctl.Serve(sup, sampler, log)
	}
	if cfg.Admin.HTTPAddr != "" {
		web, err := admin.ServeHTTP(cfg.Admin.HTTPAddr, sup, func() []admin.Metric { return admin.StatusMetrics(sup.Status()) }, log)
		if err != nil {
			fmt.Fprintf(stderr, "tend: TEND_HTTP_ADDR=%q: %v; nothing was started\n", cfg.Admin.HTTPAddr, err)
			return exitFailure
		}
		defer closeWithin(web.Close)
	}
	log.Info("tend started", zap.String("version", version), zap.Int("pid", os.Getpid()),
		zap.Strings("main", cfg.Main.Command), zap.Int("side_programs", len(cfg.Programs)))
	// Files existing now are tailed from their end; the watcher stops
	// within the log flush at the end of the stop (logs.Close).
	if err := watchLogs(cfg, logs, disk, sup.Pids, log); err != nil {
		log.Error("cannot watch TEND_LOG_WATCH; the files are not kept under the budget", zap.Error(err))
	}
	code := sup.Run(ctx)
	log.Info("exiting", zap.Int("code", code))
	return code
}

// profileInterval is how often program usage is sampled for tend profile.
const profileInterval = 5 * time.Second

// autotuneJava adds JVM flags sized to the container's limits to the main
// program's JAVA_TOOL_OPTIONS (side programs keep theirs: a heap sized to
// the whole container is only right for the one service it runs).
func autotuneJava(cfg *config.Config, limits resources.Limits, log *zap.Logger) {
	existing := os.Getenv("JAVA_TOOL_OPTIONS")
	for _, kv := range cfg.Main.Environment {
		if v, ok := strings.CutPrefix(kv, "JAVA_TOOL_OPTIONS="); ok {
			existing = v
		}
	}
	opts := resources.JavaOptions(limits, existing+" "+strings.Join(cfg.Main.Command, " "))
	if len(opts) == 0 {
		return
	}
	value := strings.TrimSpace(existing + " " + strings.Join(opts, " "))
	cfg.Main.Environment = append(cfg.Main.Environment, "JAVA_TOOL_OPTIONS="+value)
	log.Info("java autotune", zap.String("JAVA_TOOL_OPTIONS", value),
		zap.Int64("memory_limit", limits.MemoryBytes), zap.Float64("cpus", limits.CPUs), zap.String("source", limits.Source))
}

// closeWithin closes an admin server, giving requests in flight a moment.
func closeWithin(close func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	close(ctx)
}

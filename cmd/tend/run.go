package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"

	"tend/config"
	"tend/reaper"
	"tend/supervisor"
)

// runSupervisor validates the configuration, then runs argv as the main
// program with every side program until the stop sequence ends. Nothing
// starts when the configuration is invalid.
func runSupervisor(argv []string, stderr io.Writer) int {
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

	logs, err := newLogs(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "tend: %v\n", err)
		return exitFailure
	}
	sup, err := supervisor.New(supervisor.Options{
		Config: cfg, Logs: logs, Reaper: r, Logger: log, Env: os.Environ(),
	})
	if err != nil {
		log.Error("cannot set up programs", zap.Error(err))
		return exitFailure
	}
	log.Info("tend started", zap.String("version", version), zap.Int("pid", os.Getpid()),
		zap.Strings("main", cfg.Main.Command), zap.Int("side_programs", len(cfg.Programs)))
	code := sup.Run(ctx)
	log.Info("exiting", zap.Int("code", code))
	return code
}

// newLogs builds the log pipeline for cfg.
func newLogs(cfg *config.Config, log *zap.Logger) (supervisor.Logs, error) {
	return newPassthrough(os.Stdout, os.Stderr), nil
}

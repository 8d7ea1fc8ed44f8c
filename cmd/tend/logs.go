package main

import (
	"context"
	"os"

	"go.uber.org/zap"

	"tend/config"
	"tend/logship"
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
// own stdout and stderr.
func newLogs(cfg *config.Config, log *zap.Logger) (shipperLogs, error) {
	sh, err := logship.New(cfg.Log, logship.Options{
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Logger: log,
	})
	if err != nil {
		return shipperLogs{}, err
	}
	return shipperLogs{Shipper: sh, cfg: cfg}, nil
}

// Capture reads one stream of a program; programs tend starts for itself
// (such as the pre-stop hook) use the global log settings.
func (l shipperLogs) Capture(program, stream string, r *os.File) {
	p := config.Program{Name: program, LogRate: -1, LogBurst: -1, LogMultiline: "-"}
	if program == l.cfg.Main.Name {
		p = l.cfg.Main
	}
	for _, side := range l.cfg.Programs {
		if side.Name == program {
			p = side
		}
	}
	s := logship.Stdout
	if stream == "stderr" {
		s = logship.Stderr
	}
	l.Shipper.Capture(logship.SourceOf(l.cfg.Log, p), s, r)
}

// Stats returns one program's log counters.
func (l shipperLogs) Stats(program string) logship.ProgramStats {
	return l.Shipper.Stats()[program]
}

// Close reads every capture to EOF and flushes every sink within ctx.
func (l shipperLogs) Close(ctx context.Context) error { return l.Shipper.Close(ctx) }

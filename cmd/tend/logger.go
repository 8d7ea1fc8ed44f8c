package main

import (
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"tend/config"
)

// newLogger builds tend's own event log: one line per event on stderr,
// text or JSON, never mixed into a program's stdout. Each event is one
// unbuffered write, so the logger needs no Sync at exit (which would
// fsync stderr: a disk flush when stderr is a file).
func newLogger(ev config.Events) *zap.Logger {
	level, err := zapcore.ParseLevel(ev.Level)
	if err != nil {
		level = zapcore.WarnLevel
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "time"
	encCfg.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	encCfg.MessageKey = "event"
	encCfg.NameKey = "logger"
	encCfg.EncodeDuration = zapcore.StringDurationEncoder
	var enc zapcore.Encoder
	if ev.Format == "json" {
		enc = zapcore.NewJSONEncoder(encCfg)
	} else {
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(os.Stderr), level)
	return zap.New(core).Named("tend")
}

package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"tend/config"
	"tend/hooks"
	"tend/reaper"
	"tend/resources"
	"tend/supervisor"
)

// memoryHookTimeout bounds one run of TEND_ON_OOM or
// TEND_ON_MEMORY_PRESSURE.
const memoryHookTimeout = 30 * time.Second

// Program names under which the memory hooks' output is logged.
const (
	oomHookProgram      = "oom"
	pressureHookProgram = "pressure"
)

// memoryWatch returns the actor that watches the memory of tend's cgroup
// for sup's programs until its context is done: each OOM kill is named in an error event, in the
// program's status and in /metrics, and runs TEND_ON_OOM; a working set
// that stays near the limit gives one warning event per episode and runs
// TEND_ON_MEMORY_PRESSURE. The hooks run through r, their output logged
// by out, beside the programs (sup.Go). Without memory accounting in the
// cgroup there is nothing to watch: an info event says so, and the
// actor is nil.
func memoryWatch(cfg *config.Config, sup *supervisor.Supervisor, r *reaper.Reaper, out hooks.Capturer, log *zap.Logger) func(context.Context) error {
	mc := cfg.Memory
	w, err := resources.NewMemoryWatch(resources.FindCgroup(mc.CgroupRoot), resources.MemoryWatchOptions{
		Share: mc.Warn,
		Pids:  sup.Pids,
		OnOOM: func(k resources.OOMKill) {
			logOOMKill(log, k)
			env := []string{
				"TEND_OOM_LIMIT=" + strconv.FormatInt(k.LimitBytes, 10),
				"TEND_OOM_PEAK=" + strconv.FormatInt(k.PeakBytes, 10),
				"TEND_OOM_PROGRAM=", "TEND_OOM_PID=", "TEND_OOM_COMMAND=",
			}
			if v := k.Victim; v != nil {
				sup.RecordOOMKill(v.Program)
				env[2], env[3] = "TEND_OOM_PROGRAM="+v.Program, "TEND_OOM_PID="+strconv.Itoa(v.Pid)
				env[4] = "TEND_OOM_COMMAND=" + config.JoinCommand(v.Command)
			}
			runMemoryHook(sup, r, out, log, mc.OnOOM, oomHookProgram, env)
		},
		OnWarning: func(mw resources.MemoryWarning) {
			log.Warn("memory warning: the OOM killer is near", zap.String("summary", mw.String()),
				zap.Int64("working_set_bytes", mw.WorkingSetBytes), zap.Int64("limit_bytes", mw.LimitBytes))
			top := make([]string, len(mw.Top))
			for i, p := range mw.Top {
				top[i] = p.Program + "=" + strconv.FormatInt(p.RSSBytes, 10)
			}
			runMemoryHook(sup, r, out, log, mc.OnPressure, pressureHookProgram, []string{
				"TEND_MEMORY_WORKING_SET=" + strconv.FormatInt(mw.WorkingSetBytes, 10),
				"TEND_MEMORY_LIMIT=" + strconv.FormatInt(mw.LimitBytes, 10),
				"TEND_MEMORY_TOP=" + strings.Join(top, ","),
			})
		},
	})
	if err != nil {
		log.Info("the container's memory is not watched: OOM kills cannot be named", zap.Error(err))
		return nil
	}
	sup.WatchMemory(w)
	return func(ctx context.Context) error { w.Run(ctx); return nil }
}

// logOOMKill gives the error event of one OOM kill: who, the limit and
// the peak, the victim's last RSS and JVM heap, and what to change.
func logOOMKill(log *zap.Logger, k resources.OOMKill) {
	fields := []zap.Field{zap.String("summary", k.Summary())}
	if v := k.Victim; v != nil {
		fields = append(fields, zap.String("program", v.Program), zap.Int("pid", v.Pid),
			zap.String("command", config.JoinCommand(v.Command)), zap.Int64("rss_bytes", v.RSSBytes))
	}
	fields = append(fields, zap.Int64("limit_bytes", k.LimitBytes), zap.Int64("peak_bytes", k.PeakBytes))
	if h := k.Heap; h != nil && h.MaxBytes > 0 {
		fields = append(fields, zap.Int64("java_max_heap_bytes", h.MaxBytes), zap.String("java_heap_from", h.From))
	}
	fields = append(fields, zap.String("advice", k.Advice))
	log.Error("OOM kill", fields...)
}

// runMemoryHook runs argv (none: nothing) beside the programs, with env
// added to tend's environment and its output logged as program.
func runMemoryHook(sup *supervisor.Supervisor, r *reaper.Reaper, out hooks.Capturer, log *zap.Logger, argv []string, program string, env []string) {
	if len(argv) == 0 {
		return
	}
	started := sup.Go(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, memoryHookTimeout)
		defer cancel()
		spec := reaper.Spec{Argv: argv, Env: append(os.Environ(), env...)}
		code, err := hooks.RunLogged(ctx, r, spec, program, out)
		switch {
		case err != nil:
			log.Warn("memory hook failed", zap.String("hook", program), zap.Error(err))
		case code != 0:
			log.Warn("memory hook exited non-zero", zap.String("hook", program), zap.Int("code", code))
		default:
			log.Info("memory hook done", zap.String("hook", program))
		}
	})
	if !started {
		log.Info("memory hook not run: the stop sequence is past its hooks", zap.String("hook", program))
	}
}

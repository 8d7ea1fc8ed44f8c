package hooks

import (
	"context"
	"net/http"
	"os"
	"slices"
	"time"

	"go.uber.org/zap"

	"tend/config"
	"tend/reaper"
)

// connPollInterval is how often the connection drain reads the socket
// tables.
const connPollInterval = 100 * time.Millisecond

// Capturer takes the read end of a pipe and logs what comes out of it as
// the output of a program. The supervisor's log pipeline is one.
type Capturer interface {
	// Capture reads r until EOF and logs it as program's stream
	// ("stdout" or "stderr").
	Capture(program, stream string, r *os.File)
}

// PrestopProgram is the program name the pre-stop command's output is
// logged under.
const PrestopProgram = "prestop"

// Drainer runs the drain phases of the stop sequence: the pre-stop hooks,
// the drain delay and the connection drain. Its methods match
// supervisor.Drainer. Each returns when its work is done or its context
// ends, whichever is first, and never returns an error: a hook that fails
// or hangs is logged and the stop goes on.
//
// Connection drain and keep-alive: an idle keep-alive connection is
// ESTABLISHED like a busy one, and the kernel's socket table cannot tell
// them apart (a connection whose request the program is still working on
// has empty queues too). WaitConnections therefore counts every
// ESTABLISHED inbound connection, idle or not, and waits until the client
// or the program closes it, or until the drain's deadline. Ending early on
// a guess could stop the program under a request it is serving, which is
// what the drain exists to prevent; waiting costs only time inside a
// bounded budget. Clients that close idle connections when they stop
// routing (load balancers that remove a backend, proxies with short idle
// timeouts) end the wait early; the rest are closed by the program's own
// graceful shutdown once the wait ends and it gets its stop signal.
type Drainer struct {
	cfg    config.Stop
	reaper *reaper.Reaper
	out    Capturer
	env    []string
	log    *zap.Logger
	client *http.Client
	// tables are the socket tables the connection drain reads.
	tables []string
	ports  map[uint16]bool
}

// NewDrainer returns a Drainer for cfg. Commands start through r with the
// environment env; the pre-stop command's stdout and stderr go to out as
// program "prestop" (out nil: discarded).
func NewDrainer(cfg config.Stop, r *reaper.Reaper, out Capturer, env []string, log *zap.Logger) *Drainer {
	d := &Drainer{
		cfg:    cfg,
		reaper: r,
		out:    out,
		env:    slices.Clone(env),
		log:    log,
		client: newHookClient(),
		tables: []string{procNetTCP, procNetTCP6},
		ports:  map[uint16]bool{},
	}
	for _, p := range cfg.DrainPorts {
		d.ports[uint16(p)] = true
	}
	return d
}

// Delay waits TEND_DRAIN_DELAY, the time load balancers, kube-proxy and
// registry client caches need to notice that readiness was withdrawn, or
// until ctx ends.
func (d *Drainer) Delay(ctx context.Context) {
	if d.cfg.DrainDelay <= 0 {
		return
	}
	t := time.NewTimer(d.cfg.DrainDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		d.log.Warn("drain delay cut short", zap.Duration("delay", d.cfg.DrainDelay), zap.Error(context.Cause(ctx)))
	}
}

// WaitConnections waits until no ESTABLISHED TCP connection has a local
// port in TEND_DRAIN_PORTS, or until ctx ends. It reads /proc/net/tcp and
// /proc/net/tcp6 of tend's network namespace every 100ms. Idle keep-alive
// connections count as open (see Drainer). When the tables cannot be read
// it logs a warning and returns at once: it cannot tell, and the main
// program's own graceful shutdown is the fallback.
func (d *Drainer) WaitConnections(ctx context.Context) {
	if len(d.ports) == 0 {
		return
	}
	begin := time.Now()
	t := time.NewTicker(connPollInterval)
	defer t.Stop()
	first := -1
	for {
		socks, err := readTCPTables(d.tables...)
		if err != nil {
			d.log.Warn("connection drain skipped: cannot read the socket tables", zap.Error(err))
			return
		}
		open := establishedOn(socks, d.ports)
		if first < 0 {
			first = open
			if open == 0 {
				d.log.Info("no connection open on the drained ports", zap.Ints("ports", d.cfg.DrainPorts))
				return
			}
			d.log.Info("waiting for connections to close", zap.Ints("ports", d.cfg.DrainPorts), zap.Int("open", open))
		}
		if open == 0 {
			d.log.Info("connections drained", zap.Int("were_open", first), zap.Duration("took", time.Since(begin)))
			return
		}
		select {
		case <-ctx.Done():
			d.log.Warn("connection drain ended with connections still open",
				zap.Int("open", open), zap.Int("were_open", first), zap.Duration("took", time.Since(begin)),
				zap.Error(context.Cause(ctx)))
			return
		case <-t.C:
		}
	}
}

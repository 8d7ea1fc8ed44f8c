package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// Limits of the HTTP endpoints: a client gets a few seconds for each step,
// and no number of clients can hold more than MaxHTTPConns descriptors.
const (
	// MaxHTTPConns bounds the connections open at once; at the cap, the
	// one idle longest is closed to make room for a new one.
	MaxHTTPConns = 64
	// httpHeaderTimeout bounds the sending of a request's headers.
	httpHeaderTimeout = 5 * time.Second
	// httpReadTimeout bounds the reading of a whole request.
	httpReadTimeout = 10 * time.Second
	// httpWriteTimeout bounds the writing of an answer.
	httpWriteTimeout = 10 * time.Second
	// httpIdleTimeout closes a keep-alive connection idle this long.
	httpIdleTimeout = 5 * time.Second
	// httpMaxHeader bounds a request's headers.
	httpMaxHeader = 8 << 10
)

// HTTP serves /healthz, /readyz, /status and /metrics.
type HTTP struct {
	srv  *http.Server
	done chan struct{}
	// Addr is the address actually listened on (useful with port 0).
	Addr string
}

// ServeHTTP starts the HTTP endpoints on addr.
func ServeHTTP(addr string, sup Supervisor, metrics func() []Metric, log *zap.Logger) (*HTTP, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin HTTP on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !sup.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready")
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(sup.Status())
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		writeMetrics(w, metrics())
	})
	lim := newLimitListener(ln, MaxHTTPConns)
	h := &HTTP{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: httpHeaderTimeout,
			ReadTimeout:       httpReadTimeout,
			WriteTimeout:      httpWriteTimeout,
			IdleTimeout:       httpIdleTimeout,
			MaxHeaderBytes:    httpMaxHeader,
			ErrorLog:          zap.NewStdLog(log),
			ConnState: func(c net.Conn, st http.ConnState) {
				lc, ok := c.(*limitConn)
				if !ok {
					return
				}
				switch st {
				case http.StateIdle:
					lim.markIdle(lc)
				case http.StateActive, http.StateHijacked, http.StateClosed:
					lim.markActive(lc)
				}
			},
		},
		done: make(chan struct{}),
		Addr: ln.Addr().String(),
	}
	go func() {
		defer close(h.done)
		if err := h.srv.Serve(lim); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin HTTP stopped", zap.Error(err))
		}
	}()
	return h, nil
}

// Close shuts the server down, letting requests in flight finish within ctx.
func (h *HTTP) Close(ctx context.Context) error {
	err := h.srv.Shutdown(ctx)
	<-h.done
	return err
}

// Command fluentrecv is the Fluentd forward-protocol receiver of tend's
// tests and benchmarks: the OpenTelemetry Collector's fluentforward
// receiver (a real, independent implementation of the protocol, which
// answers the chunk option with an ack once the records are consumed),
// wrapped so that every record it receives is written as one JSON line:
//
//	{"tag":"tend.main.stdout","time":1767366305123456789,"message":"...","program":"main",...}
//
// The record's fields other than message are copied as they came. The
// output is flushed before each ack is sent, so a record a client saw
// acknowledged is in the output.
//
//	fluentrecv -listen 127.0.0.1:24224 -out records.jsonl
//	fluentrecv -listen unix:///run/fluent.sock -out -
//
// It prints "ready" on stdout once it listens, and stops on TERM or INT.
// It lives in a module of its own so that tend's go.mod never takes the
// Collector's dependencies.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/fluentforwardreceiver"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:24224", "host:port or unix:///path to listen on")
	outPath := flag.String("out", "-", "file the records are appended to, one JSON object a line (- for stdout)")
	flag.Parse()
	if err := run(*listen, *outPath); err != nil {
		fmt.Fprintln(os.Stderr, "fluentrecv:", err)
		os.Exit(1)
	}
}

func run(listen, outPath string) error {
	out := os.Stdout
	if outPath != "-" {
		f, err := os.OpenFile(outPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	w := &writer{buf: bufio.NewWriterSize(out, 256<<10)}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	factory := fluentforwardreceiver.NewFactory()
	cfg := factory.CreateDefaultConfig().(*fluentforwardreceiver.Config)
	cfg.ListenAddress = listen
	logs, err := consumer.NewLogs(w.consume)
	if err != nil {
		return err
	}
	rcv, err := factory.CreateLogs(ctx, receivertest.NewNopSettings(factory.Type()), cfg, logs)
	if err != nil {
		return err
	}
	if err := rcv.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	fmt.Println("ready")
	<-ctx.Done()
	err = rcv.Shutdown(context.Background())
	w.mu.Lock()
	defer w.mu.Unlock()
	if ferr := w.buf.Flush(); err == nil {
		err = ferr
	}
	return err
}

// writer writes the records of each batch the receiver hands on.
type writer struct {
	mu  sync.Mutex
	buf *bufio.Writer
}

func (w *writer) consume(_ context.Context, ld plog.Logs) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	enc := json.NewEncoder(w.buf)
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			recs := sls.At(j).LogRecords()
			for k := 0; k < recs.Len(); k++ {
				rec := recs.At(k)
				obj := rec.Attributes().AsRaw()
				if tag, ok := obj["fluent.tag"]; ok {
					obj["tag"] = tag
					delete(obj, "fluent.tag")
				}
				obj["time"] = rec.Timestamp().AsTime().UnixNano()
				obj["message"] = rec.Body().AsRaw()
				if err := enc.Encode(obj); err != nil {
					return err
				}
			}
		}
	}
	// Flushed before the receiver acks: an acknowledged record is out.
	return w.buf.Flush()
}

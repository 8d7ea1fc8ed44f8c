// Command sideprog is a side program for tend's tests: it records what
// happens to it, with the time, and can become ready late.
//
//	sideprog -name NAME -log FILE [-tcp PORT -listen-after D]
//	         [-http PORT -ok-after D] [-touch FILE -touch-after D]
//	         [-exit N [-after D] [-lines N]] [-ignore-term]
//
// Every event is appended to FILE as one line "UNIXNANO NAME EVENT", in
// one write, so several programs can share the file:
//
//	start            the program runs (first thing it does)
//	listening        about to listen on -tcp PORT (after -listen-after)
//	ok               -http PORT answers 200 from now on (503 before)
//	touched          about to create -touch FILE (after -touch-after)
//	signal SIG       a signal arrived (TERM, INT, HUP, USR1, ...)
//	exit CODE        about to exit
//
// Without -exit it runs until TERM or INT (exit 0), or forever with
// -ignore-term. With -exit N it prints -lines lines to stdout, waits
// -after, and exits with N.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

var (
	name    = flag.String("name", "sideprog", "name written in every event")
	logPath = flag.String("log", "", "file the events are appended to (required)")
	logFile *os.File
)

// record appends one event line.
func record(format string, args ...any) {
	line := fmt.Sprintf("%d %s %s\n", time.Now().UnixNano(), *name, fmt.Sprintf(format, args...))
	if _, err := logFile.WriteString(line); err != nil {
		fmt.Fprintln(os.Stderr, "sideprog:", err)
		os.Exit(111)
	}
}

func main() {
	tcpPort := flag.Int("tcp", 0, "listen on 127.0.0.1:PORT after -listen-after")
	listenAfter := flag.Duration("listen-after", 0, "delay before listening on -tcp")
	httpPort := flag.Int("http", 0, "serve HTTP on 127.0.0.1:PORT: 503 until -ok-after, then 200")
	okAfter := flag.Duration("ok-after", 0, "delay before -http answers 200")
	touch := flag.String("touch", "", "create this file after -touch-after")
	touchAfter := flag.Duration("touch-after", 0, "delay before creating -touch")
	exitCode := flag.Int("exit", -1, "exit with this code after -after (default: run until TERM)")
	after := flag.Duration("after", 0, "with -exit, how long to run first")
	lines := flag.Int("lines", 0, "with -exit, lines to print to stdout first")
	ignoreTerm := flag.Bool("ignore-term", false, "record TERM and INT but keep running")
	flag.Parse()
	if *logPath == "" {
		fmt.Fprintln(os.Stderr, "sideprog: -log is required")
		os.Exit(2)
	}
	var err error
	logFile, err = os.OpenFile(*logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o666)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sideprog:", err)
		os.Exit(111)
	}
	record("start")

	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2)

	if *tcpPort != 0 {
		go func() {
			time.Sleep(*listenAfter)
			record("listening")
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *tcpPort))
			if err != nil {
				record("error %v", err)
				return
			}
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	if *httpPort != 0 {
		var ok atomic.Bool
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *httpPort))
		if err != nil {
			record("error %v", err)
		} else {
			go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !ok.Load() {
					http.Error(w, "starting", http.StatusServiceUnavailable)
					return
				}
				fmt.Fprintln(w, "ok")
			}))
			go func() {
				time.Sleep(*okAfter)
				record("ok")
				ok.Store(true)
			}()
		}
	}
	if *touch != "" {
		go func() {
			time.Sleep(*touchAfter)
			record("touched")
			os.WriteFile(*touch, nil, 0o644)
		}()
	}

	var timeout <-chan time.Time
	if *exitCode >= 0 {
		for i := 1; i <= *lines; i++ {
			fmt.Printf("%s line %d\n", *name, i)
		}
		timeout = time.After(*after)
	}
	for {
		select {
		case s := <-sigs:
			sig := strings.TrimPrefix(unix.SignalName(s.(syscall.Signal)), "SIG")
			record("signal %s", sig)
			if (sig == "TERM" || sig == "INT") && !*ignoreTerm {
				record("exit 0")
				os.Exit(0)
			}
		case <-timeout:
			record("exit %d", *exitCode)
			os.Exit(*exitCode)
		}
	}
}

// Command sigrecorder records every signal it receives, for tend's tests.
//
//	sigrecorder -out FILE [-ready FILE] [-exit-on TERM,INT] [-exit-code N]
//
// Each signal is appended to FILE as its name without SIG ("HUP"), one per
// line, as soon as it arrives. Once its handlers are installed it writes
// its PID to the -ready file. On a signal listed in -exit-on it records the
// signal and exits with -exit-code. It also exits when the file named by
// -stop-file appears.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	out := flag.String("out", "", "file the signal names are appended to (required)")
	ready := flag.String("ready", "", "file written with the PID once handlers are installed")
	exitOn := flag.String("exit-on", "TERM", "comma-separated signals that end the program after being recorded")
	exitCode := flag.Int("exit-code", 0, "exit code after an -exit-on signal")
	stopFile := flag.String("stop-file", "", "exit 0 when this file appears")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "sigrecorder: -out is required")
		os.Exit(2)
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sigrecorder:", err)
		os.Exit(1)
	}
	exits := map[string]bool{}
	for _, s := range strings.Split(*exitOn, ",") {
		if s = strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "SIG"); s != "" {
			exits[s] = true
		}
	}

	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs) // every catchable signal
	if *ready != "" {
		if err := os.WriteFile(*ready, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "sigrecorder:", err)
			os.Exit(1)
		}
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case s := <-sigs:
			sig := s.(syscall.Signal)
			// URG is the Go runtime's own preemption signal and CHLD
			// comes from our own children: neither was sent to us.
			if sig == syscall.SIGURG || sig == syscall.SIGCHLD {
				continue
			}
			name := strings.TrimPrefix(unix.SignalName(sig), "SIG")
			if name == "" {
				name = strconv.Itoa(int(sig))
			}
			if _, err := f.WriteString(name + "\n"); err != nil {
				fmt.Fprintln(os.Stderr, "sigrecorder:", err)
				os.Exit(1)
			}
			if exits[name] {
				f.Close()
				os.Exit(*exitCode)
			}
		case <-tick.C:
			if *stopFile != "" {
				if _, err := os.Stat(*stopFile); err == nil {
					f.Close()
					os.Exit(0)
				}
			}
		}
	}
}

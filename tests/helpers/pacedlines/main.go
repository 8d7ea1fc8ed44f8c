// Command pacedlines writes numbered lines to stdout at a steady rate, for
// the tests that need records to keep coming while something else happens
// (a Fluentd receiver going down and up).
//
//	pacedlines -n 40000 -rate 2500 [-tag T] [-done FILE] [-hold]
//
// Line i (from 0) is TAG, i in 8 decimal digits, " paced\n". Lines go out
// in small bursts every 10 ms. With -done, FILE is created once every line
// is written; with -hold, the program then waits for TERM or INT.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 1000, "lines to write")
	rate := flag.Int("rate", 1000, "lines per second")
	tag := flag.String("tag", "", "text before each line's number")
	done := flag.String("done", "", "file created once every line is written")
	hold := flag.Bool("hold", false, "wait for TERM or INT after the last line")
	flag.Parse()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	w := bufio.NewWriter(os.Stdout)
	start := time.Now()
	for i := 0; i < *n; {
		due := int(time.Since(start).Seconds() * float64(*rate))
		for ; i < *n && i <= due; i++ {
			fmt.Fprintf(w, "%s%08d paced\n", *tag, i)
		}
		if err := w.Flush(); err != nil {
			os.Exit(1)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if *done != "" {
		if err := os.WriteFile(*done, nil, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if *hold {
		<-sigs
	}
}

// Command mapper maps a file into memory and reads it, the way a log
// indexer or a memory-mapped reader does, until TERM or INT:
//
//	mapper -file PATH -size BYTES -ready FILE
//
// It waits until PATH holds at least -size bytes, opens it read-only, maps
// its first -size bytes, creates -ready, and then reads one byte of every
// page every 10 ms. Should the file be cut shorter under the mapping, the
// next read faults (SIGBUS) and the program dies with exit status 2 and a
// Go fault message; on TERM or INT it prints "mapper survived" and exits
// 0.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	path := flag.String("file", "", "file to map")
	size := flag.Int("size", 1<<20, "bytes to map")
	ready := flag.String("ready", "", "file created once the mapping is made")
	flag.Parse()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	for {
		if st, err := os.Stat(*path); err == nil && st.Size() >= int64(*size) {
			break
		}
		select {
		case <-stop:
			fmt.Println("mapper stopped before the file was large enough")
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	f, err := os.Open(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mapper:", err)
		os.Exit(1)
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, *size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mapper:", err)
		os.Exit(1)
	}
	// The descriptor is not needed for the mapping to stay: only the
	// mapping ties this process to the file now.
	f.Close()
	if *ready != "" {
		os.WriteFile(*ready, nil, 0o644)
	}
	page := os.Getpagesize()
	var sum byte
	for {
		for i := 0; i < len(mem); i += page {
			sum += mem[i]
		}
		select {
		case <-stop:
			fmt.Println("mapper survived", sum)
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

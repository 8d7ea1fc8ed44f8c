package main

import (
	"fmt"
	"io"
)

// runControl talks to the running tend over its control socket.
func runControl(cmd string, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintf(stderr, "tend %s: not available yet\n", cmd)
	return exitFailure
}

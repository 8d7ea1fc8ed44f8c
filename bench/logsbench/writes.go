package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
)

// writeStats is how a writer cut the stream into write(2) calls.
type writeStats struct {
	writes   int
	sizes    map[int]int // write size -> how many
	unsplit  int         // writes that ended on a newline
	lastSize int
}

// measureWrites runs argv with stdout a SOCK_SEQPACKET socket, which keeps
// every write(2) as one message, and reads the messages: their sizes are
// the writer's write sizes, and together they must be the stream s.
func measureWrites(argv []string, s stream) (writeStats, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return writeStats{}, fmt.Errorf("socketpair: %w", err)
	}
	// A message must fit in the send buffer whole.
	syscall.SetsockoptInt(fds[1], syscall.SOL_SOCKET, syscall.SO_SNDBUF, 1<<20)
	reader := os.NewFile(uintptr(fds[0]), "writes-reader")
	writerEnd := os.NewFile(uintptr(fds[1]), "writes-writer")
	defer reader.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = writerEnd
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		writerEnd.Close()
		return writeStats{}, err
	}
	writerEnd.Close()

	st := writeStats{sizes: map[int]int{}}
	buf := make([]byte, 1<<20)
	var off int64
	var checkErr error
	for {
		n, err := syscall.Read(fds[0], buf)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			checkErr = err
			break
		}
		if n == 0 {
			break
		}
		st.writes++
		st.sizes[n]++
		st.lastSize = n
		if buf[n-1] == '\n' {
			st.unsplit++
		}
		if checkErr == nil {
			checkErr = expectAt(buf[:n], off)
		}
		off += int64(n)
	}
	if err := cmd.Wait(); err != nil {
		return st, fmt.Errorf("%s: %w", argv[0], err)
	}
	if checkErr == nil && off != s.size() {
		checkErr = fmt.Errorf("%d bytes written, want %d", off, s.size())
	}
	return st, checkErr
}

// String describes the sizes, most frequent first: "146 x 8192, 1 x 3968".
func (st writeStats) String() string {
	type count struct{ size, n int }
	var cs []count
	for size, n := range st.sizes {
		cs = append(cs, count{size, n})
	}
	slices.SortFunc(cs, func(a, b count) int {
		if a.n != b.n {
			return b.n - a.n
		}
		return b.size - a.size
	})
	var parts []string
	for i, c := range cs {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("%d other sizes", len(cs)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%d × %d B", c.n, c.size))
	}
	return strings.Join(parts, ", ")
}

package tests

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Helpers for the tests of watched files (watch_*_test.go): the watch part
// of `tend status --json`, a sampler of the disk space a directory takes,
// and the records tailed to tend's JSON console.

// watchStatus is the "logs" object of `tend status --json`.
type watchStatus struct {
	DiskUsed   int64 `json:"disk_used"`
	DiskBudget int64 `json:"disk_budget"`
	Watched    []struct {
		Path    string `json:"path"`
		Program string `json:"program"`
		Bytes   int64  `json:"bytes"`
		Open    bool   `json:"open"`
		Tailed  bool   `json:"tailed"`
	} `json:"watched"`
	Cleanups []struct {
		File    string `json:"file"`
		Program string `json:"program"`
		Bytes   int64  `json:"bytes"`
		Action  string `json:"action"`
		Reason  string `json:"reason"`
	} `json:"cleanups"`
	CleanupsTotal int64 `json:"cleanups_total"`
	CleanedBytes  int64 `json:"cleaned_bytes"`
	Fluent        *struct {
		Connected bool  `json:"connected"`
		Sent      int64 `json:"sent"`
		Buffered  int   `json:"buffered"`
		Dropped   struct {
			Lines int64 `json:"lines"`
		} `json:"dropped"`
		Failures int64 `json:"failures"`
	} `json:"fluent"`
}

// logsStatus runs `tend status --json` and returns its "logs" object.
func logsStatus(t testing.TB, p *tendProcess) watchStatus {
	t.Helper()
	var doc struct {
		Logs *watchStatus `json:"logs"`
	}
	out := mustCtl(t, p, "status", "--json")
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("tend status --json: %v\n%s", err, out)
	}
	if doc.Logs == nil {
		t.Fatalf("tend status --json has no logs object:\n%s", out)
	}
	return *doc.Logs
}

// diskBytes is the disk space the regular files directly in dir take, as
// the budget counts it: each file's size, or its allocated blocks when
// fewer (a sparse file).
func diskBytes(dir string) int64 {
	ents, _ := os.ReadDir(dir)
	var n int64
	for _, e := range ents {
		var st syscall.Stat_t
		if syscall.Lstat(filepath.Join(dir, e.Name()), &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
			continue
		}
		n += min(st.Size, st.Blocks*512)
	}
	return n
}

// diskSampler samples the disk space some directories take (diskBytes,
// or another measure) every few milliseconds until stopped, and keeps the
// largest total seen.
type diskSampler struct {
	dirs []string
	size func(dir string) int64
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	max  int64
	n    int
}

// sampleDisk samples diskBytes of dirs.
func sampleDisk(dirs ...string) *diskSampler { return startDiskSampler(diskBytes, dirs...) }

// startDiskSampler samples the total of size over dirs.
func startDiskSampler(size func(dir string) int64, dirs ...string) *diskSampler {
	s := &diskSampler{dirs: dirs, size: size, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			var total int64
			for _, d := range s.dirs {
				total += s.size(d)
			}
			s.mu.Lock()
			s.max = max(s.max, total)
			s.n++
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return s
}

// Stop ends the sampling and returns the largest total seen and the
// number of samples.
func (s *diskSampler) Stop() (peak int64, samples int) {
	close(s.stop)
	<-s.done
	return s.max, s.n
}

// consoleRecord is one JSON line of tend's console.
type consoleRecord struct {
	Program string `json:"program"`
	Stream  string `json:"stream"`
	Message string `json:"message"`
}

// tailedMessages returns the messages of program's records with stream
// "file" in a JSON console's output, in order.
func tailedMessages(t testing.TB, out, program string) []string {
	t.Helper()
	var msgs []string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r consoleRecord
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		if r.Program == program && r.Stream == "file" {
			msgs = append(msgs, r.Message)
		}
	}
	return msgs
}

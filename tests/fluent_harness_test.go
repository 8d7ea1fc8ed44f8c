package tests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The Fluentd tests send to a real forward-protocol receiver: the
// OpenTelemetry Collector's fluentforward receiver, wrapped by
// tests/fluentrecv (a module of its own) to write every record it receives
// as a JSON line. It acknowledges a chunk only after the record was
// written, so a record tend saw acknowledged is in the output.

// fluentrecvBuild is the one build of tests/fluentrecv for this run.
var fluentrecvBuild struct {
	once sync.Once
	path string
	err  error
}

// fluentrecvPath builds tests/fluentrecv once; a receiver that cannot be
// built (no module proxy, say) skips the test, or fails it in CI.
func fluentrecvPath(t testing.TB) string {
	t.Helper()
	buildAll(t)
	fluentrecvBuild.once.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			fluentrecvBuild.err = err
			return
		}
		fluentrecvBuild.path = filepath.Join(workDir, "fluentrecv")
		cmd := exec.Command(goTool(), "build", "-trimpath", "-o", fluentrecvBuild.path, ".")
		cmd.Dir = filepath.Join(root, "tests", "fluentrecv")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fluentrecvBuild.err = fmt.Errorf("go build tests/fluentrecv: %v\n%s", err, out)
		}
	})
	if fluentrecvBuild.err != nil {
		skipOrFail(t, "the Fluentd receiver cannot be built: "+fluentrecvBuild.err.Error())
	}
	return fluentrecvBuild.path
}

// fluentAddr returns 127.0.0.1:PORT with a port free a moment ago.
func fluentAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// fluentReceiver is a running tests/fluentrecv.
type fluentReceiver struct {
	t    testing.TB
	cmd  *exec.Cmd
	out  string
	done chan struct{}
}

// startReceiver starts the receiver on addr, appending to out, and waits
// until it listens.
func startReceiver(t testing.TB, addr, out string) *fluentReceiver {
	t.Helper()
	r := &fluentReceiver{t: t, out: out, done: make(chan struct{})}
	r.cmd = exec.Command(fluentrecvPath(t), "-listen", addr, "-out", out)
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r.cmd.Stderr = os.Stderr
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := sc.Scan() && sc.Text() == "ready"
		ready <- ok
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		r.cmd.Wait()
		close(r.done)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("the receiver on %s did not start", addr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the receiver on %s did not start within 30s", addr)
	}
	t.Cleanup(func() { r.Stop() })
	return r
}

// Stop stops the receiver (TERM, as an orchestrator would) and waits.
func (r *fluentReceiver) Stop() {
	select {
	case <-r.done:
		return
	default:
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
	}
}

// fluentRecord is one record as the receiver wrote it.
type fluentRecord struct {
	Tag     string `json:"tag"`
	Time    int64  `json:"time"`
	Message string `json:"message"`
	Program string `json:"program"`
	Stream  string `json:"stream"`
	Host    string `json:"host"`
	Partial bool   `json:"partial"`
	File    string `json:"file"`
}

// readRecords reads every record in the receiver output files.
func readRecords(t testing.TB, paths ...string) []fluentRecord {
	t.Helper()
	var recs []fluentRecord
	for _, p := range paths {
		f, err := os.Open(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var r fluentRecord
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("%s: %v: %q", p, err, sc.Text())
			}
			recs = append(recs, r)
		}
		f.Close()
	}
	return recs
}

// countLines counts the lines of the files (records received so far).
func countLines(paths ...string) int {
	n := 0
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err == nil {
			n += strings.Count(string(data), "\n")
		}
	}
	return n
}

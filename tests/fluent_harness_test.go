package tests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	Tend    bool   `json:"tend"`
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

// The tests of the Fluentd sink against the real Fluentd (v1.14) of
// ../shared/fluentd run it through internal/fluentdtest.

// fluentStatus is the "fluent" object of `tend status --json`'s "logs".
type fluentStatus struct {
	Connected      bool  `json:"connected"`
	Sent           int64 `json:"sent"`
	Acked          int64 `json:"acked"`
	Buffered       int64 `json:"buffered"`
	BufferedBytes  int64 `json:"buffered_bytes"`
	SpooledChunks  int64 `json:"spooled_chunks"`
	SpooledRecords int64 `json:"spooled_records"`
	SpooledBytes   int64 `json:"spooled_bytes"`
	Dropped        struct {
		Lines int64 `json:"lines"`
	} `json:"dropped"`
	DroppedBy map[string]struct {
		Lines int64 `json:"lines"`
	} `json:"dropped_by"`
	Retries   int64  `json:"retries"`
	LastError string `json:"last_error"`
}

// fluentState runs `tend status --json` and returns the Fluentd sink's
// state. It waits for the control socket first.
func fluentState(t testing.TB, p *tendProcess) fluentStatus {
	t.Helper()
	waitFor(t, 10*time.Second, "tend's control socket", func() bool {
		_, err := os.Stat(p.socket())
		return err == nil || p.Exited()
	})
	var doc struct {
		Logs struct {
			Fluent *fluentStatus `json:"fluent"`
		} `json:"logs"`
	}
	out := mustCtl(t, p, "status", "--json")
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("tend status --json: %v\n%s", err, out)
	}
	if doc.Logs.Fluent == nil {
		t.Fatalf("tend status --json has no logs.fluent:\n%s", out)
	}
	return *doc.Logs.Fluent
}

// exitEvent returns tend's event that says what became of the records
// sent to Fluentd ("every record reached fluentd", "not every record
// reached fluentd", or "fluentd flush ran out of time"); the test fails
// when there is none. Needs TEND_EVENT_FORMAT=json.
func exitEvent(t testing.TB, stderr string) tendEvent {
	t.Helper()
	for _, e := range tendEvents(stderr) {
		switch e.str("event") {
		case "every record reached fluentd", "not every record reached fluentd", "fluentd flush ran out of time":
			return e
		}
	}
	t.Fatalf("no event says what became of the records for Fluentd:\n%s", stderr)
	return nil
}

// lineNumberOf returns the number of a logsgen line's message (its first
// 12 digits), or -1.
func lineNumberOf(msg string) int {
	if len(msg) < 13 || msg[12] != ' ' {
		return -1
	}
	n, err := strconv.Atoi(msg[:12])
	if err != nil {
		return -1
	}
	return n
}

package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
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
// ../shared/fluentd: in_forward on 127.0.0.1, every record written as a
// JSON line to DIR/records* (see the start script's header).

// fluentdScripts returns ../shared/fluentd from the repository's root; a
// missing Fluentd or Ruby skips the test, or fails it in CI.
func fluentdScripts(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	scripts := filepath.Join(root, "..", "shared", "fluentd")
	if _, err := os.Stat(filepath.Join(scripts, "start")); err != nil {
		skipOrFail(t, "this test needs the Fluentd of ../shared/fluentd: "+err.Error())
	}
	if _, err := exec.LookPath("ruby"); err != nil {
		skipOrFail(t, "this test runs Fluentd, which needs ruby")
	}
	return scripts
}

// fluentd is a real Fluentd.
type fluentd struct {
	t       testing.TB
	scripts string
	dir     string
	addr    string
	args    []string
}

// newFluentd prepares a Fluentd on a free port of 127.0.0.1 with the
// start script's extra args (--tls, --shared-key, --flush), not started;
// it is stopped at the end of the test.
func newFluentd(t testing.TB, args ...string) *fluentd {
	t.Helper()
	f := &fluentd{t: t, scripts: fluentdScripts(t), dir: t.TempDir(), addr: fluentAddr(t), args: args}
	t.Cleanup(f.stop)
	return f
}

// startFluentd starts a new Fluentd (see newFluentd).
func startFluentd(t testing.TB, args ...string) *fluentd {
	t.Helper()
	f := newFluentd(t, args...)
	if err := f.start(); err != nil {
		t.Fatal(err)
	}
	return f
}

// start starts Fluentd on its directory and port; it returns once the
// port accepts connections.
func (f *fluentd) start() error {
	_, port, _ := net.SplitHostPort(f.addr)
	cmd := exec.Command(filepath.Join(f.scripts, "start"), append([]string{f.dir, port}, f.args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("start Fluentd: %v\n%s", err, out)
	}
	return nil
}

// stop stops Fluentd with TERM: it writes what it buffered, then exits.
func (f *fluentd) stop() {
	if out, err := exec.Command(filepath.Join(f.scripts, "stop"), f.dir).CombinedOutput(); err != nil {
		f.t.Errorf("stop Fluentd: %v\n%s", err, out)
	}
}

// kill kills Fluentd with KILL and waits until its sockets are closed.
func (f *fluentd) kill() {
	f.t.Helper()
	data, err := os.ReadFile(filepath.Join(f.dir, "fluentd.pid"))
	if err != nil {
		f.t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		f.t.Fatalf("fluentd.pid: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		f.t.Fatalf("kill Fluentd: %v", err)
	}
	for range 300 {
		// Gone, or a zombie nobody reaped yet: its sockets are closed.
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.t.Fatalf("Fluentd (pid %d) still runs 3s after KILL", pid)
}

// waitCount waits until Fluentd wrote n records (it writes its buffer
// every second): without ack, tend counts a record as sent once written
// to the connection, and a Fluentd stopped before it read its socket
// loses what was there.
func (f *fluentd) waitCount(n int) {
	f.t.Helper()
	c := f.counter()
	waitFor(f.t, 2*time.Minute, fmt.Sprintf("%d records written by Fluentd", n), func() bool { return c.count() >= n })
}

// fdRecord is one record as Fluentd wrote it, the fields the tests read.
type fdRecord struct {
	Tag     string `json:"tag"`
	Message string `json:"message"`
	Program string `json:"program"`
	Stream  string `json:"stream"`
	Host    string `json:"host"`
	Tend    bool   `json:"tend"`
}

// records reads every record Fluentd wrote so far, in order, less its own
// log events (tags fluent.*), which its <match **> writes there too.
func (f *fluentd) records() []fdRecord {
	f.t.Helper()
	paths, err := filepath.Glob(filepath.Join(f.dir, "records*"))
	if err != nil {
		f.t.Fatal(err)
	}
	var recs []fdRecord
	for _, p := range paths {
		file, err := os.Open(p)
		if err != nil {
			f.t.Fatal(err)
		}
		sc := bufio.NewScanner(file)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			r, err := parseFluentdLine(sc.Bytes())
			if err != nil {
				f.t.Fatalf("%s: %v: %q", p, err, sc.Text())
			}
			if !strings.HasPrefix(r.Tag, "fluent.") {
				recs = append(recs, r)
			}
		}
		file.Close()
	}
	return recs
}

// fdKeys are the string keys parseFluentdLine looks for, as they start in
// JSON, in the order of fdRecord's fields.
var fdKeys = [...][]byte{[]byte(`"tag":"`), []byte(`"message":"`), []byte(`"program":"`), []byte(`"stream":"`), []byte(`"host":"`)}

// parseFluentdLine decodes one line of Fluentd's JSON. encoding/json
// takes minutes for a million lines under the race detector, so a line
// without a backslash, where no string can hold a quote, is read by
// looking for each key: "key":" can then only be a key, and the next quote
// ends its value. Other lines go through encoding/json.
func parseFluentdLine(line []byte) (fdRecord, error) {
	var r fdRecord
	if len(line) == 0 || line[0] != '{' || line[len(line)-1] != '}' {
		return r, errors.New("not a JSON object")
	}
	if bytes.IndexByte(line, '\\') >= 0 {
		err := json.Unmarshal(line, &r)
		return r, err
	}
	for i, dst := range [...]*string{&r.Tag, &r.Message, &r.Program, &r.Stream, &r.Host} {
		_, rest, ok := bytes.Cut(line, fdKeys[i])
		if !ok {
			continue
		}
		v, _, ok := bytes.Cut(rest, []byte{'"'})
		if !ok {
			return r, fmt.Errorf("no end to the value of %s", fdKeys[i])
		}
		*dst = string(v)
	}
	r.Tend = bytes.Contains(line, []byte(`"tend":true`))
	return r, nil
}

// count returns how many records Fluentd wrote so far (its own events
// excluded), reading only what was added since the last call.
type fdCounter struct {
	f   *fluentd
	off map[string]int64
	n   int
}

func (f *fluentd) counter() *fdCounter { return &fdCounter{f: f, off: map[string]int64{}} }

func (c *fdCounter) count() int {
	paths, _ := filepath.Glob(filepath.Join(c.f.dir, "records*"))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil || int64(len(data)) <= c.off[p] {
			continue
		}
		data = data[c.off[p]:]
		end := bytes.LastIndexByte(data, '\n') + 1
		for _, line := range bytes.Split(data[:end], []byte{'\n'}) {
			if len(line) > 0 && !bytes.Contains(line, []byte(`"tag":"fluent.`)) {
				c.n++
			}
		}
		c.off[p] += int64(end)
	}
	return c.n
}

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

// Package fluentdtest runs the real Fluentd (v1.14) of ../shared/fluentd,
// beside the repository, for tests: in_forward on 127.0.0.1, every record
// written as a JSON line to DIR/records* (see the start script's header).
// It starts and stops Fluentd, reads what it wrote, and writes the TLS
// certificates its TLS input needs. Only tests import it.
package fluentdtest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tend/internal/nettest"
)

// Scripts returns the directory of Fluentd's start and stop scripts,
// ../shared/fluentd from the module's root. Without them or without Ruby
// the test is skipped, or fails under CI=true.
func Scripts(t testing.TB) string {
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

// moduleRoot returns the nearest directory at or above the working
// directory (a test's package directory) that holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// skipOrFail skips the test, or fails it under CI=true, where every
// requirement must be there.
func skipOrFail(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but %s", reason)
	}
	t.Skip(reason)
}

// Fluentd is a real Fluentd of a test, on its own directory and port.
type Fluentd struct {
	// Addr is the address of its forward input, 127.0.0.1:PORT.
	Addr string
	// Dir holds its configuration, log, pid, file buffer and the records
	// files.
	Dir string

	t       testing.TB
	scripts string
	args    []string
}

// New prepares a Fluentd on a free port of 127.0.0.1 with the start
// script's extra args (--tls, --shared-key, --flush), not started (see
// Start); it is stopped at the end of the test.
func New(t testing.TB, args ...string) *Fluentd {
	t.Helper()
	return NewAt(t, nettest.FreeAddr(t), args...)
}

// NewAt is New on a given address.
func NewAt(t testing.TB, addr string, args ...string) *Fluentd {
	t.Helper()
	f := &Fluentd{Addr: addr, Dir: t.TempDir(), t: t, scripts: Scripts(t), args: args}
	t.Cleanup(f.Stop)
	return f
}

// Start starts a new Fluentd (see New); the test fails if it cannot.
func Start(t testing.TB, args ...string) *Fluentd {
	t.Helper()
	return StartAt(t, nettest.FreeAddr(t), args...)
}

// StartAt is Start on a given address.
func StartAt(t testing.TB, addr string, args ...string) *Fluentd {
	t.Helper()
	f := NewAt(t, addr, args...)
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	return f
}

// Start starts Fluentd on its directory and port, again after Stop or
// Kill; it returns once the port accepts connections.
func (f *Fluentd) Start() error {
	_, port, _ := net.SplitHostPort(f.Addr)
	cmd := exec.Command(filepath.Join(f.scripts, "start"), append([]string{f.Dir, port}, f.args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("start Fluentd: %v\n%s", err, out)
	}
	return nil
}

// Stop stops Fluentd with TERM: it writes what it buffered into the
// records files, then exits. Stopping one that is not running does
// nothing.
func (f *Fluentd) Stop() {
	if out, err := exec.Command(filepath.Join(f.scripts, "stop"), f.Dir).CombinedOutput(); err != nil {
		f.t.Errorf("stop Fluentd: %v\n%s", err, out)
	}
}

// Kill kills Fluentd with KILL and waits until its sockets are closed.
func (f *Fluentd) Kill() error {
	data, err := os.ReadFile(filepath.Join(f.Dir, "fluentd.pid"))
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return fmt.Errorf("fluentd.pid: %w", err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill Fluentd: %w", err)
	}
	for range 300 {
		// Gone, or a zombie that nobody reaped yet: either way its
		// sockets are closed.
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return nil
		}
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("Fluentd (pid %d) still runs 3s after KILL", pid)
}

// Record is one record as Fluentd wrote it, the fields the tests read.
type Record struct {
	Tag     string `json:"tag"`
	Message string `json:"message"`
	Program string `json:"program"`
	Stream  string `json:"stream"`
	Host    string `json:"host"`
	Tend    bool   `json:"tend"`
}

// Records reads every record Fluentd wrote so far, in order, less its own
// log events (tags fluent.*), which its <match **> writes there too. What
// Fluentd still buffers is not there yet: Stop it first to have it all.
func (f *Fluentd) Records() []Record {
	f.t.Helper()
	paths, err := filepath.Glob(filepath.Join(f.Dir, "records*"))
	if err != nil {
		f.t.Fatal(err)
	}
	var recs []Record
	for _, p := range paths {
		file, err := os.Open(p)
		if err != nil {
			f.t.Fatal(err)
		}
		sc := bufio.NewScanner(file)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			r, err := ParseLine(sc.Bytes())
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

// lineKeys are the string keys ParseLine looks for, as they start in
// JSON, in the order of Record's string fields.
var lineKeys = [...][]byte{[]byte(`"tag":"`), []byte(`"message":"`), []byte(`"program":"`), []byte(`"stream":"`), []byte(`"host":"`)}

// ParseLine decodes one line of Fluentd's JSON. encoding/json takes
// minutes for a million lines under the race detector, so a line without
// a backslash, where no string can hold a quote, is read by looking for
// each key: "key":" can then only be a key, and the next quote ends its
// value. Other lines go through encoding/json.
func ParseLine(line []byte) (Record, error) {
	var r Record
	if len(line) == 0 || line[0] != '{' || line[len(line)-1] != '}' {
		return r, errors.New("not a JSON object")
	}
	if bytes.IndexByte(line, '\\') >= 0 {
		err := json.Unmarshal(line, &r)
		return r, err
	}
	for i, dst := range [...]*string{&r.Tag, &r.Message, &r.Program, &r.Stream, &r.Host} {
		_, rest, ok := bytes.Cut(line, lineKeys[i])
		if !ok {
			continue
		}
		v, _, ok := bytes.Cut(rest, []byte{'"'})
		if !ok {
			return r, fmt.Errorf("no end to the value of %s", lineKeys[i])
		}
		*dst = string(v)
	}
	r.Tend = bytes.Contains(line, []byte(`"tend":true`))
	return r, nil
}

// Counter counts the records Fluentd wrote (its own events excluded),
// reading only what was added since its last count.
type Counter struct {
	dir string
	off map[string]int64
	n   int
}

// Counter returns a Counter of f's records, at zero.
func (f *Fluentd) Counter() *Counter { return &Counter{dir: f.Dir, off: map[string]int64{}} }

// Count returns how many records Fluentd wrote so far.
func (c *Counter) Count() int {
	paths, _ := filepath.Glob(filepath.Join(c.dir, "records*"))
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

// WaitRecords waits up to timeout until Fluentd wrote n records (it writes
// its buffer every --flush, 1 s by default); it fails the test after that.
func (f *Fluentd) WaitRecords(n int, timeout time.Duration) {
	f.t.Helper()
	c := f.Counter()
	deadline := time.Now().Add(timeout)
	for c.Count() < n {
		if time.Now().After(deadline) {
			f.t.Fatalf("Fluentd wrote %d records within %s, want %d", c.Count(), timeout, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WriteCert writes a self-signed CA certificate for 127.0.0.1 and the DNS
// name name, for servers and clients, and its ECDSA key, in PEM, as
// dir/name.crt and dir/name.key, and returns their paths.
func WriteCert(t testing.TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{name},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

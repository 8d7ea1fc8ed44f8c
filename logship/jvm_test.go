package logship_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"tend/config"
	"tend/logship"
	"tend/logship/console"
	"tend/logship/internal/logtest"
)

func TestMultilineJoinsARealJVMStackTrace(t *testing.T) {
	java, err := exec.LookPath("java")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test runs a JVM (JDK 17); CI must provide java")
		}
		t.Skip("this test runs a JVM (JDK 17) and java is not installed")
	}
	var out, errOut logtest.SyncBuffer
	cfg := logtest.Log("")
	cfg.Format = config.FormatJSON
	c, err := console.New(cfg, &out, &errOut, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := logship.New(cfg, logship.Options{}, c)
	if err != nil {
		t.Fatal(err)
	}
	r, w := logtest.Pipe(t)
	cmd := exec.Command(java, "testdata/Trace.java")
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	capt := s.CaptureSource(logship.Source{Program: "main", Multiline: "java"}, logship.Stderr, r)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("java: %v\n%s", err, errOut.Bytes())
	}
	<-capt.Done()
	logtest.Close(t, s)

	var msgs []string
	for _, l := range strings.Split(strings.TrimSpace(string(errOut.Bytes())), "\n") {
		var r logtest.JSONRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		msgs = append(msgs, r.Message)
	}
	if len(msgs) != 3 || msgs[0] != "before" || msgs[2] != "after" {
		t.Fatalf("records %q, want before, the trace, after", msgs)
	}
	trace := msgs[1]
	for _, want := range []string{"java.lang.IllegalStateException: outer\n\tat Trace.outer(",
		"\tSuppressed: java.io.IOException: close failed", "\nCaused by: java.lang.NullPointerException: inner",
		"\n\t... "} {
		if !strings.Contains(trace, want) {
			t.Fatalf("trace record lacks %q:\n%s", want, trace)
		}
	}
}

package logship

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"tend/config"
)

func TestMultilineJoinsARealJVMStackTrace(t *testing.T) {
	java, err := exec.LookPath("java")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test runs a JVM (JDK 17); CI must provide java")
		}
		t.Skip("this test runs a JVM (JDK 17) and java is not installed")
	}
	var out, errOut syncBuffer
	cfg := testLog("")
	cfg.Format = config.FormatJSON
	s := newShipper(t, cfg, &out, &errOut)
	r, w, _ := osPipe(t)
	cmd := exec.Command(java, "testdata/Trace.java")
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	c := s.Capture(Source{Program: "main", Multiline: "java"}, Stderr, r)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("java: %v\n%s", err, errOut.Bytes())
	}
	<-c.Done()
	closeShipper(t, s)

	var msgs []string
	for _, l := range strings.Split(strings.TrimSpace(string(errOut.Bytes())), "\n") {
		var r jsonRecord
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

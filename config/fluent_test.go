package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tend/internal/fluentdtest"
)

// TEND_FLUENT_BUFFER is a size; a bare number is bytes, and one below
// 64KiB (most likely a count of records, what it used to be) is refused
// with the reason.
func TestFluentBufferIsASizeOfMemory(t *testing.T) {
	if c := mustLoad(t, nil); c.Fluent.Buffer != 8<<20 {
		t.Errorf("default %d, want 8MiB", c.Fluent.Buffer)
	}
	if c := mustLoad(t, nil, "TEND_FLUENT_BUFFER=200000"); c.Fluent.Buffer != 200000 {
		t.Errorf("200000 read as %d bytes", c.Fluent.Buffer)
	}
	if c := mustLoad(t, nil, "TEND_FLUENT_BUFFER=32MiB"); c.Fluent.Buffer != 32<<20 {
		t.Errorf("32MiB read as %d bytes", c.Fluent.Buffer)
	}
	e := only(t, loadErrors(t, nil, "TEND_FLUENT_BUFFER=8192"))
	if e.Where != "TEND_FLUENT_BUFFER" || e.Value != "8192" || !strings.Contains(e.Problem, "not a number of records") || !strings.Contains(e.Expected, "64KiB") {
		t.Errorf("got %v", e)
	}
}

// The spool is TEND_LOG_DIR/fluent-spool when LOG_DIR is set and the
// spool is not; off turns it off; a directory that cannot be made is an
// error naming the variable; without TEND_FLUENT_ADDR there is none.
func TestFluentSpoolDirectory(t *testing.T) {
	dir := t.TempDir()
	c := mustLoad(t, nil, "TEND_FLUENT_ADDR=127.0.0.1:24224", "TEND_LOG_DIR="+dir)
	if want := filepath.Join(dir, "fluent-spool"); c.Fluent.Spool != want {
		t.Errorf("spool %q, want %q", c.Fluent.Spool, want)
	}
	if c := mustLoad(t, nil, "TEND_FLUENT_ADDR=127.0.0.1:24224", "TEND_LOG_DIR="+dir, "TEND_FLUENT_SPOOL=off"); c.Fluent.Spool != "" {
		t.Errorf("spool %q with off", c.Fluent.Spool)
	}
	if c := mustLoad(t, nil, "TEND_LOG_DIR="+dir); c.Fluent.Spool != "" {
		t.Errorf("spool %q without TEND_FLUENT_ADDR", c.Fluent.Spool)
	}
	other := filepath.Join(t.TempDir(), "spool")
	if c := mustLoad(t, nil, "TEND_FLUENT_ADDR=127.0.0.1:24224", "TEND_FLUENT_SPOOL="+other); c.Fluent.Spool != other {
		t.Errorf("spool %q, want %q", c.Fluent.Spool, other)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e := only(t, loadErrors(t, nil, "TEND_FLUENT_ADDR=127.0.0.1:24224", "TEND_FLUENT_SPOOL="+file))
	if e.Where != "TEND_FLUENT_SPOOL" || e.Value != file || !strings.Contains(e.Problem, "not a directory") {
		t.Errorf("got %v", e)
	}
	e = only(t, loadErrors(t, nil, "TEND_FLUENT_ADDR=127.0.0.1:24224", "TEND_FLUENT_SPOOL=spool"))
	if e.Where != "TEND_FLUENT_SPOOL" || !strings.Contains(e.Problem, "absolute") {
		t.Errorf("got %v", e)
	}
}

// TLS files are read at load: a missing or unreadable file, a CA file
// without a certificate, a certificate without its key, or a key that is
// not the certificate's stop the start with the variable's name; the
// files without TEND_FLUENT_TLS are an error too (nothing would use
// them). Good files load.
func TestFluentTLSFilesAreCheckedAtLoad(t *testing.T) {
	dir := t.TempDir()
	cert, key := fluentdtest.WriteCert(t, dir, "a")
	_, otherKey := fluentdtest.WriteCert(t, dir, "b")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	base := []string{"TEND_FLUENT_ADDR=127.0.0.1:24224", "TEND_FLUENT_TLS=true"}

	c := mustLoad(t, nil, append(base, "TEND_FLUENT_TLS_CA="+cert, "TEND_FLUENT_TLS_CERT="+cert, "TEND_FLUENT_TLS_KEY="+key)...)
	if !c.Fluent.TLS || c.Fluent.TLSCA != cert || c.Fluent.TLSCert != cert || c.Fluent.TLSKey != key {
		t.Errorf("loaded %+v", c.Fluent)
	}
	mustLoad(t, nil, base...)

	for _, tc := range []struct {
		env         []string
		where, want string
	}{
		{[]string{"TEND_FLUENT_TLS_CA=" + missing}, "TEND_FLUENT_TLS_CA", "no such file"},
		{[]string{"TEND_FLUENT_TLS_CA=" + notPEM}, "TEND_FLUENT_TLS_CA", "no PEM certificate"},
		{[]string{"TEND_FLUENT_TLS_CA=" + dir}, "TEND_FLUENT_TLS_CA", "directory"},
		{[]string{"TEND_FLUENT_TLS_CERT=" + cert}, "TEND_FLUENT_TLS_KEY", "missing"},
		{[]string{"TEND_FLUENT_TLS_KEY=" + key}, "TEND_FLUENT_TLS_CERT", "missing"},
		{[]string{"TEND_FLUENT_TLS_CERT=" + cert, "TEND_FLUENT_TLS_KEY=" + otherKey}, "TEND_FLUENT_TLS_CERT", "private key does not match"},
		{[]string{"TEND_FLUENT_TLS_CERT=" + cert, "TEND_FLUENT_TLS_KEY=" + missing}, "TEND_FLUENT_TLS_KEY", "no such file"},
		{[]string{"TEND_FLUENT_TLS=false", "TEND_FLUENT_TLS_CA=" + cert}, "TEND_FLUENT_TLS_CA", "TEND_FLUENT_TLS is not true"},
	} {
		e := only(t, loadErrors(t, nil, append(base, tc.env...)...))
		if e.Where != tc.where || !strings.Contains(e.Problem, tc.want) {
			t.Errorf("%v: got %v; want %s with %q", tc.env, e, tc.where, tc.want)
		}
	}
}

// The shared key never shows in `tend check`.
func TestFluentSharedKeyIsNotShown(t *testing.T) {
	c := mustLoad(t, nil, "TEND_FLUENT_ADDR=127.0.0.1:24224", "TEND_FLUENT_SHARED_KEY=s3cret")
	if c.Fluent.SharedKey != "s3cret" {
		t.Fatalf("key %q", c.Fluent.SharedKey)
	}
	for _, s := range Settings() {
		if v := s.Value(c); strings.Contains(v, "s3cret") {
			t.Errorf("%s shows %q", s.Var(), v)
		}
	}
}

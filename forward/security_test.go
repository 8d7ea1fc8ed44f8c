package forward

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tend/internal/fluentdtest"
)

// Fluentd's own TLS input with a shared key: records sent over TLS with
// the right key arrive, whether the certificate is checked for the
// address's IP or for a name given; a wrong key, no key, a certificate
// from another CA or for another name are clear errors and send nothing.
func TestFluentdOverTLSWithSharedKey(t *testing.T) {
	t.Parallel()
	certFile, keyFile := fluentdtest.WriteCert(t, t.TempDir(), "fluentd.test")
	otherCA, _ := fluentdtest.WriteCert(t, t.TempDir(), "fluentd.test")
	fd := fluentdtest.Start(t, "--tls", certFile, keyFile, "--shared-key", "s3cret")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, tc := range []struct {
		serverName, tag string
		records         int
	}{{"", "tend.ip", 1000}, {"fluentd.test", "tend.name", 10}} {
		tlsConfig, err := TLSConfig(certFile, "", "", tc.serverName)
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewClient(Config{Addr: fd.Addr, TLS: tlsConfig, SharedKey: "s3cret", Ack: true})
		if err != nil {
			t.Fatal(err)
		}
		s := newSender(t, c, tc.tag, 100)
		s.send(ctx, tc.records)
		s.flush(ctx)
		c.Close()
	}

	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name, key, ca, serverName, want string
			auth                            bool
		}{
			{"wrong key", "wrong", certFile, "", "shared key handshake failed: the receiver refused: shared_key mismatch", true},
			{"no key", "", certFile, "", "shared key handshake failed: the receiver asks for a shared key (it sent HELO) and none is set", true},
			{"other CA", "s3cret", otherCA, "", "certificate signed by unknown authority", false},
			{"other name", "s3cret", certFile, "elsewhere.test", "not elsewhere.test", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tlsConfig, err := TLSConfig(tc.ca, "", "", tc.serverName)
				if err != nil {
					t.Fatal(err)
				}
				c, err := NewClient(Config{Addr: fd.Addr, TLS: tlsConfig, SharedKey: tc.key, Ack: true})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				var ch Chunk
				ch.Reset("tend.main.stdout")
				ch.Append(time.Now(), &Record{Message: []byte("must not arrive"), Program: "main", Stream: "stdout"})
				flushErr := flushUntil(t, c, &ch, func() bool { return c.Err() != nil })
				t.Logf("%v", flushErr)
				if err := c.Err(); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Err = %v, want an error saying %q", err, tc.want)
				}
				if _, ok := errorsAs[*AuthError](c.Err()); ok != tc.auth {
					t.Errorf("Err = %v: an AuthError is %v, want %v", c.Err(), ok, tc.auth)
				}
				if !errors.Is(flushErr, context.DeadlineExceeded) || !strings.Contains(flushErr.Error(), tc.want) {
					t.Errorf("Flush = %v, want it to say its deadline passed, and why", flushErr)
				}
				if len(c.Unsettled()) != 1 {
					t.Errorf("%d chunks unsettled, want the 1 sent", len(c.Unsettled()))
				}
			})
		}
	})

	fd.Stop()
	got := map[string]int{}
	for _, r := range fd.Records() {
		if r.Message == "must not arrive" {
			t.Error("a record sent with a wrong key, no key or an unchecked certificate arrived")
		}
		got[r.Tag]++
	}
	if got["tend.ip"] != 1000 || got["tend.name"] != 10 {
		t.Errorf("Fluentd wrote %v, want the 1000 and the 10 records sent with the right key and certificate", got)
	}
}

// TLSConfig names the file and the problem.
func TestTLSConfigErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := fluentdtest.WriteCert(t, dir, "fluentd.test")
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o644)
	for _, tc := range []struct {
		ca, cert, key, want string
	}{
		{filepath.Join(dir, "missing.pem"), "", "", "missing.pem: no such file"},
		{notPEM, "", "", notPEM + ": no PEM certificate in it"},
		{"", certFile, "", "give both or neither"},
		{"", notPEM, keyFile, "TLS client certificate " + notPEM},
	} {
		_, err := TLSConfig(tc.ca, tc.cert, tc.key, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("TLSConfig(%q, %q, %q) = %v, want an error with %q", tc.ca, tc.cert, tc.key, err, tc.want)
		}
	}
	cfg, err := TLSConfig(certFile, certFile, keyFile, "x")
	if err != nil || len(cfg.Certificates) != 1 || cfg.RootCAs == nil || cfg.ServerName != "x" {
		t.Errorf("TLSConfig with a CA, a client certificate and a name: %v, %v", cfg, err)
	}
}

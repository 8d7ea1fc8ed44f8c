package forward

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key,
// in PEM, into dir and returns their paths.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "fluentd"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"fluentd.test"},
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
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// Fluentd's own TLS input with a shared key: records sent over TLS with
// the right key arrive, whether the certificate is checked for the
// address's IP or for a name given; a wrong key, no key, a certificate
// from another CA or for another name are clear errors and send nothing.
func TestFluentdOverTLSWithSharedKey(t *testing.T) {
	t.Parallel()
	certFile, keyFile := selfSigned(t, t.TempDir())
	otherCA, _ := selfSigned(t, t.TempDir())
	fd := startFluentd(t, "--tls", certFile, keyFile, "--shared-key", "s3cret")
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
		c, err := NewClient(Config{Addr: fd.addr, TLS: tlsConfig, SharedKey: "s3cret", Ack: true})
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
				c, err := NewClient(Config{Addr: fd.addr, TLS: tlsConfig, SharedKey: tc.key, Ack: true})
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

	fd.stop()
	got := map[string]int{}
	for _, r := range fd.records() {
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
	certFile, keyFile := selfSigned(t, dir)
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

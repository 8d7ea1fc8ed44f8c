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

// Fluentd's own TLS input with a shared key: records sent with the right
// key over TLS arrive; a wrong key, or none, is a clear error and sends
// nothing.
func TestFluentdOverTLSWithSharedKey(t *testing.T) {
	certFile, keyFile := selfSigned(t, t.TempDir())
	fd := startFluentd(t, "--tls", certFile, keyFile, "--shared-key", "s3cret")
	tlsConfig, err := TLSConfig(certFile, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	c, err := NewClient(Config{Addr: fd.addr, TLS: tlsConfig, SharedKey: "s3cret", Ack: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := newSender(t, c, "tend.main.stdout", 100)
	s.send(ctx, 1000)
	s.flush(ctx)

	// What a wrong key, or no key, gets; each client is given 3 s.
	for _, tc := range []struct {
		key, want string
	}{
		{"wrong", "shared key handshake failed: the receiver refused: shared_key mismatch"},
		{"", "shared key handshake failed: the receiver asks for a shared key (it sent HELO) and none is set"},
	} {
		bad, err := NewClient(Config{Addr: fd.addr, TLS: tlsConfig, SharedKey: tc.key, Ack: true})
		if err != nil {
			t.Fatal(err)
		}
		var ch Chunk
		ch.Reset("tend.main.stdout")
		ch.Append(time.Now(), &Record{Message: []byte("must not arrive"), Program: "main", Stream: "stdout"})
		bctx, bcancel := context.WithTimeout(ctx, 3*time.Second)
		_, err = bad.Send(bctx, &ch)
		if err == nil {
			_, err = bad.Flush(bctx)
		}
		bcancel()
		bad.Close()
		t.Logf("key %q: %v", tc.key, err)
		if _, ok := errorsAs[*AuthError](err); !ok || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("key %q: Flush = %v, want an AuthError saying %q", tc.key, err, tc.want)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("key %q: Flush = %v, want it to say its deadline passed", tc.key, err)
		}
		if len(bad.Unsettled()) != 1 {
			t.Errorf("key %q: %d chunks unsettled, want the 1 sent", tc.key, len(bad.Unsettled()))
		}
	}

	fd.stop()
	recs := fd.records()
	if len(recs) != 1000 {
		t.Errorf("Fluentd wrote %d records, want the 1000 sent with the right key", len(recs))
	}
	for _, r := range recs {
		if r.Message == "must not arrive" {
			t.Error("a record sent with a wrong key or none arrived")
		}
	}
}

// The receiver's certificate must match the CA and the name: a client
// that trusts another CA, or checks another name, sends nothing.
func TestFluentdOverTLSChecksTheCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	fd := startFluentd(t, "--tls", certFile, keyFile)
	otherCA, _ := selfSigned(t, t.TempDir())
	for _, tc := range []struct {
		name, ca, serverName, want string
	}{
		{"other CA", otherCA, "", "certificate signed by unknown authority"},
		{"other name", certFile, "elsewhere.test", "not elsewhere.test"},
	} {
		tlsConfig, err := TLSConfig(tc.ca, "", "", tc.serverName)
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewClient(Config{Addr: fd.addr, TLS: tlsConfig, Ack: true})
		if err != nil {
			t.Fatal(err)
		}
		var ch Chunk
		ch.Append(time.Now(), &Record{Message: []byte("must not arrive")})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c.Send(ctx, &ch)
		_, err = c.Flush(ctx)
		cancel()
		c.Close()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Flush = %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	// The right CA and the name in the certificate: it passes.
	tlsConfig, err := TLSConfig(certFile, "", "", "fluentd.test")
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(Config{Addr: fd.addr, TLS: tlsConfig, Ack: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := newSender(t, c, "tend.main.stdout", 10)
	s.send(ctx, 10)
	s.flush(ctx)
	fd.stop()
	if got := len(fd.records()); got != 10 {
		t.Errorf("Fluentd wrote %d records, want the 10 sent with the right certificate checks", got)
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

package forward

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// errNoPEM is wrapped by TLSConfig when a CA file holds no certificate.
var errNoPEM = errors.New("no PEM certificate in it")

// TLSConfig builds the TLS settings of a client. caFile is a PEM file of
// the certificates that may sign the receiver's (empty: the system's
// roots); certFile and keyFile, both or neither, are the client's own
// certificate and key in PEM, for receivers that check clients (mutual
// TLS); serverName is the name the receiver's certificate must carry
// (empty: the host of the address).
func TLSConfig(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("forward: TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("forward: TLS CA file %s: %w", caFile, errNoPEM)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("forward: TLS client certificate %q and key %q: give both or neither", certFile, keyFile)
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("forward: TLS client certificate %s and key %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Package nettest holds the local TCP addresses the tests share: one that
// nothing listens on, and a listener that only accepts. Only tests import
// it.
package nettest

import (
	"net"
	"testing"
)

// FreeAddr returns 127.0.0.1:PORT with a port free a moment ago: nothing
// listens there, so a connection is refused until something does.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Listen listens on addr ("127.0.0.1:0" for any free port) and accepts
// and closes every connection until the test ends; it returns the address
// it listens on.
func Listen(t testing.TB, addr string) string {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

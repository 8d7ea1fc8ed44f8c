// Package nettest holds the local TCP addresses the tests share: one that
// nothing listens on, and a listener that only accepts. Only tests import
// it.
package nettest

import (
	"net"
	"sync"
	"testing"
)

// FreeAddr returns 127.0.0.1:PORT with a port free a moment ago: nothing
// listens there, so a connection is refused until something does. It never
// returns a port it returned before in the same test binary: a test that
// stops its server for a while (a Fluentd killed and restarted) keeps its
// port to itself, and a client of that test reconnecting meanwhile cannot
// reach another test's server that was given the port in between.
func FreeAddr(t testing.TB) string {
	t.Helper()
	given.Lock()
	defer given.Unlock()
	for range 1000 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		if !given.addrs[addr] {
			given.addrs[addr] = true
			return addr
		}
	}
	t.Fatal("no free port that was not given out before")
	return ""
}

// given holds the addresses FreeAddr has returned in this test binary.
var given = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

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

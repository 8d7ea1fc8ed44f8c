package hooks

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// formatTCPLine writes s as the kernel writes a line of /proc/net/tcp
// (net/ipv4/tcp_ipv4.c, get_tcp4_sock) or tcp6.
func formatTCPLine(slot int, s socket) string {
	return fmt.Sprintf("%4d: %s %s %02X %08X:%08X 00:00000000 00000000 %5d        0 %d 1 0000000000000000 20 4 30 10 -1",
		slot, formatProcAddr(s.Local), formatProcAddr(s.Remote), uint8(s.State), s.TxQueue, s.RxQueue, s.UID, s.Inode)
}

func formatProcAddr(ap netip.AddrPort) string {
	var b strings.Builder
	raw := ap.Addr().AsSlice()
	for w := 0; w*4 < len(raw); w++ {
		fmt.Fprintf(&b, "%08X", binary.NativeEndian.Uint32(raw[w*4:]))
	}
	fmt.Fprintf(&b, ":%04X", ap.Port())
	return b.String()
}

const tcpHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

func TestParseTCPTableReadsKernelFormat(t *testing.T) {
	// Lines as a little-endian kernel prints them: a listener on
	// 127.0.0.1:8080 and a connection to it from port 41668.
	le := tcpHeader +
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000003 00:00000000 00000000  1000        0 35021 1 0000000000000000 100 0 0 10 0\n" +
		"   1: 0100007F:1F90 0100007F:A2C4 01 00000010:00000020 00:00000000 00000000     0        0 35030 1 0000000000000000 20 4 30 10 -1\n"
	socks, err := parseTCPTable(strings.NewReader(le))
	if err != nil {
		t.Fatal(err)
	}
	if len(socks) != 2 {
		t.Fatalf("got %d sockets, want 2", len(socks))
	}
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the sample lines are from a little-endian kernel")
	}
	want := socket{
		Local:  netip.MustParseAddrPort("127.0.0.1:8080"),
		Remote: netip.MustParseAddrPort("127.0.0.1:41668"),
		State:  tcpEstablished, TxQueue: 16, RxQueue: 32, Inode: 35030,
	}
	if socks[1] != want {
		t.Errorf("connection = %+v, want %+v", socks[1], want)
	}
	if socks[0].State != tcpListen || socks[0].UID != 1000 || socks[0].RxQueue != 3 {
		t.Errorf("listener = %+v", socks[0])
	}
}

func TestParseTCPTableReadsIPv6(t *testing.T) {
	want := []socket{
		{Local: netip.MustParseAddrPort("[::1]:8443"), Remote: netip.MustParseAddrPort("[::1]:50000"), State: tcpEstablished, Inode: 7},
		{Local: netip.MustParseAddrPort("[::ffff:10.1.2.3]:80"), Remote: netip.MustParseAddrPort("[::ffff:10.9.8.7]:6000"), State: tcpTimeWait},
		{Local: netip.MustParseAddrPort("[2001:db8::1]:443"), Remote: netip.MustParseAddrPort("[2001:db8::2]:1234"), State: tcpCloseWait, UID: 65534, Inode: 1 << 40},
	}
	var b strings.Builder
	b.WriteString(tcpHeader)
	for i, s := range want {
		b.WriteString(formatTCPLine(i, s) + "\n")
	}
	got, err := parseTCPTable(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseTCPTableRejectsMalformedLines(t *testing.T) {
	good := "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 35021 1"
	for name, line := range map[string]string{
		"too few fields":     "   0: 0100007F:1F90 00000000:0000 0A",
		"no slot colon":      strings.Replace(good, "0:", "0 ", 1),
		"short address":      strings.Replace(good, "0100007F:1F90", "100007F:1F90", 1),
		"no port":            strings.Replace(good, "0100007F:1F90", "0100007F1F90", 1),
		"bad hex":            strings.Replace(good, "0100007F", "0100007G", 1),
		"signed hex":         strings.Replace(good, " 0A ", " +A ", 1),
		"mixed families":     strings.Replace(good, "00000000:0000", "00000000000000000000000000000000:0000", 1),
		"queues without rx":  strings.Replace(good, "00000000:00000000", "00000000", 1),
		"uid not a number":   strings.Replace(good, "1000", "x", 1),
		"inode not a number": strings.Replace(good, "35021", "-1", 1),
	} {
		if _, err := parseTCPTable(strings.NewReader(tcpHeader + line + "\n")); err == nil {
			t.Errorf("%s: no error for %q", name, line)
		} else if !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%s: error %q does not name line 2", name, err)
		}
	}
	if _, err := parseTCPTable(strings.NewReader(tcpHeader + good + "\n")); err != nil {
		t.Errorf("the unchanged line fails: %v", err)
	}
}

// openConns listens on network/addr, dials n connections to it and
// accepts them. It returns the listener's port and a function that closes
// the client ends, leaving the server ends to the listener's cleanup.
func openConns(t *testing.T, network, addr string, n int) (uint16, func()) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	var clients, servers []net.Conn
	for range n {
		c, err := net.Dial(network, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		clients, servers = append(clients, c), append(servers, s)
	}
	t.Cleanup(func() {
		for _, c := range append(clients, servers...) {
			c.Close()
		}
	})
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	return port, func() {
		for _, c := range clients {
			c.Close()
		}
	}
}

func countOn(t *testing.T, port uint16) int {
	t.Helper()
	socks, err := readTCPTables(procNetTCP, procNetTCP6)
	if err != nil {
		t.Fatal(err)
	}
	return establishedOn(socks, map[uint16]bool{port: true})
}

func TestEstablishedCountsRealInboundConnections(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{
		{"tcp4", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"},
	} {
		t.Run(tc.network, func(t *testing.T) {
			port, closeClients := openConns(t, tc.network, tc.addr, 3)
			// Only the three server ends count: the listener is LISTEN and
			// the client ends have the port as their remote port.
			if got := countOn(t, port); got != 3 {
				t.Errorf("established on %d = %d, want 3", port, got)
			}
			closeClients()
			// The server ends are now CLOSE_WAIT: the clients have gone.
			deadline := time.Now().Add(2 * time.Second)
			for countOn(t, port) != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("still %d established on %d after the clients closed", countOn(t, port), port)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func TestReadTCPTablesTreatsMissingTableAsEmpty(t *testing.T) {
	socks, err := readTCPTables(t.TempDir() + "/tcp6")
	if err != nil || len(socks) != 0 {
		t.Errorf("got %v, %v; want no sockets and no error", socks, err)
	}
}

func FuzzParseTCPTable(f *testing.F) {
	f.Add(tcpHeader + "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 35021 1 0000000000000000 100 0 0 10 0\n")
	f.Add(tcpHeader + formatTCPLine(0, socket{Local: netip.MustParseAddrPort("[::1]:443"), Remote: netip.MustParseAddrPort("[::1]:5"), State: tcpEstablished}) + "\n")
	f.Add("")
	f.Add("0: :")
	f.Add("   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 0")
	f.Fuzz(func(t *testing.T, table string) {
		socks, err := parseTCPTable(strings.NewReader(table))
		if err != nil {
			return
		}
		// What parses must survive a round trip through the kernel's format.
		var b strings.Builder
		b.WriteString(tcpHeader)
		for i, s := range socks {
			if !s.Local.IsValid() || !s.Remote.IsValid() {
				t.Fatalf("invalid address in %+v", s)
			}
			b.WriteString(formatTCPLine(i, s) + "\n")
		}
		again, err := parseTCPTable(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("formatted table does not parse: %v\n%s", err, b.String())
		}
		if !reflect.DeepEqual(socks, again) && !(len(socks) == 0 && len(again) == 0) {
			t.Fatalf("round trip changed sockets:\n%+v\n%+v", socks, again)
		}
	})
}

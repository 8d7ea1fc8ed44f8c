package hooks

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
)

// The socket tables of tend's own network namespace, which in a container
// is the container's. /proc/net is a link to /proc/self/net; naming self
// keeps the reading right even where /proc/net points elsewhere.
const (
	procNetTCP  = "/proc/self/net/tcp"
	procNetTCP6 = "/proc/self/net/tcp6"
)

// tcpState is a socket's state as the kernel numbers it in /proc/net/tcp
// (include/net/tcp_states.h).
type tcpState uint8

// The TCP states that matter to the connection drain.
const (
	tcpEstablished tcpState = 0x01
	tcpTimeWait    tcpState = 0x06
	tcpCloseWait   tcpState = 0x08
	tcpListen      tcpState = 0x0A
)

// socket is one line of /proc/net/tcp or /proc/net/tcp6.
type socket struct {
	// Local and Remote are the socket's two ends.
	Local, Remote netip.AddrPort
	// State is the TCP state.
	State tcpState
	// TxQueue is the bytes sent and not yet acknowledged (for a listener:
	// unused); RxQueue is the bytes received and not yet read by the
	// program (for a listener: the accept backlog).
	TxQueue, RxQueue uint32
	// UID owns the socket.
	UID uint32
	// Inode identifies the socket among processes' open files.
	Inode uint64
}

// parseTCPTable reads a socket table in the format of /proc/net/tcp and
// /proc/net/tcp6: a header line, then one socket per line. A line that
// does not have that format is an error naming its line number, since
// guessing at a table tend misreads would make the drain wait for the
// wrong connections.
func parseTCPTable(r io.Reader) ([]socket, error) {
	var socks []socket
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if n == 1 && bytes.HasPrefix(bytes.TrimSpace(line), []byte("sl")) {
			continue // the header
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		s, err := parseTCPLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		socks = append(socks, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read socket table: %w", err)
	}
	return socks, nil
}

// tcpFields is how many leading fields of a line parseTCPLine reads:
// sl, local_address, rem_address, st, tx_queue:rx_queue, tr:tm->when,
// retrnsmt, uid, timeout, inode. The kernel prints more after them.
const tcpFields = 10

// parseTCPLine parses one socket line such as
//
//	0: 0100007F:1F90 0100007F:A2C4 01 00000000:00000000 00:00000000 00000000  1000  0 123456 1 ...
func parseTCPLine(line []byte) (socket, error) {
	var f [tcpFields][]byte
	got := 0
	for rest := line; got < tcpFields; got++ {
		rest = bytes.TrimLeft(rest, " \t")
		if len(rest) == 0 {
			break
		}
		end := bytes.IndexAny(rest, " \t")
		if end < 0 {
			end = len(rest)
		}
		f[got], rest = rest[:end], rest[end:]
	}
	if got < tcpFields {
		return socket{}, fmt.Errorf("%d fields, want at least %d", got, tcpFields)
	}
	if !bytes.HasSuffix(f[0], []byte(":")) {
		return socket{}, fmt.Errorf("slot %q does not end in a colon", f[0])
	}
	var s socket
	var err error
	if s.Local, err = parseProcAddr(f[1]); err != nil {
		return socket{}, fmt.Errorf("local address: %w", err)
	}
	if s.Remote, err = parseProcAddr(f[2]); err != nil {
		return socket{}, fmt.Errorf("remote address: %w", err)
	}
	if s.Local.Addr().Is4() != s.Remote.Addr().Is4() {
		return socket{}, errors.New("local and remote addresses of different families")
	}
	st, err := parseHex(f[3], 8)
	if err != nil {
		return socket{}, fmt.Errorf("state: %w", err)
	}
	s.State = tcpState(st)
	tx, rx, ok := bytes.Cut(f[4], []byte(":"))
	if !ok {
		return socket{}, fmt.Errorf("queues %q are not TX:RX", f[4])
	}
	txq, err := parseHex(tx, 32)
	if err != nil {
		return socket{}, fmt.Errorf("tx_queue: %w", err)
	}
	rxq, err := parseHex(rx, 32)
	if err != nil {
		return socket{}, fmt.Errorf("rx_queue: %w", err)
	}
	s.TxQueue, s.RxQueue = uint32(txq), uint32(rxq)
	uid, err := strconv.ParseUint(string(f[7]), 10, 32)
	if err != nil {
		return socket{}, fmt.Errorf("uid: %w", err)
	}
	s.UID = uint32(uid)
	if s.Inode, err = strconv.ParseUint(string(f[9]), 10, 64); err != nil {
		return socket{}, fmt.Errorf("inode: %w", err)
	}
	return s, nil
}

// parseProcAddr parses ADDR:PORT as the kernel prints it: the address as
// 32-bit words in host byte order (one word for IPv4, four for IPv6), each
// as 8 hex digits, and the port as 4 hex digits.
func parseProcAddr(b []byte) (netip.AddrPort, error) {
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("%q is not ADDR:PORT", b)
	}
	hexAddr, hexPort := b[:i], b[i+1:]
	if len(hexPort) != 4 {
		return netip.AddrPort{}, fmt.Errorf("port %q is not 4 hex digits", hexPort)
	}
	port, err := parseHex(hexPort, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port: %w", err)
	}
	var raw [16]byte
	switch len(hexAddr) {
	case 8, 32:
	default:
		return netip.AddrPort{}, fmt.Errorf("address %q is neither 8 nor 32 hex digits", hexAddr)
	}
	for w := 0; w*8 < len(hexAddr); w++ {
		word, err := parseHex(hexAddr[w*8:w*8+8], 32)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("address: %w", err)
		}
		binary.NativeEndian.PutUint32(raw[w*4:], uint32(word))
	}
	var addr netip.Addr
	if len(hexAddr) == 8 {
		addr = netip.AddrFrom4([4]byte(raw[:4]))
	} else {
		addr = netip.AddrFrom16(raw)
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// parseHex parses unsigned hex digits (no sign, no 0x) into bits bits.
func parseHex(b []byte, bits int) (uint64, error) {
	if len(b) == 0 || b[0] == '+' || b[0] == '-' || len(b) > 1 && (b[1] == 'x' || b[1] == 'X') {
		return 0, fmt.Errorf("%q is not hex digits", b)
	}
	v, err := strconv.ParseUint(string(b), 16, bits)
	if err != nil {
		return 0, fmt.Errorf("%q is not hex digits: %w", b, errors.Unwrap(err))
	}
	return v, nil
}

// readTCPTables reads and parses the socket tables at paths. A missing
// table is empty: /proc/net/tcp6 does not exist when IPv6 is disabled.
func readTCPTables(paths ...string) ([]socket, error) {
	var all []socket
	for _, p := range paths {
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("socket table: %w", err)
		}
		socks, err := parseTCPTable(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		all = append(all, socks...)
	}
	return all, nil
}

// establishedOn counts the ESTABLISHED sockets whose local port is in
// ports: the inbound connections of a program listening on those ports.
// Other states are not counted: LISTEN is the listener itself, TIME_WAIT
// is already closed, and CLOSE_WAIT means the client has gone and only the
// program's close is missing (a program that never closes would otherwise
// hold every drain to its end).
func establishedOn(socks []socket, ports map[uint16]bool) int {
	n := 0
	for _, s := range socks {
		if s.State == tcpEstablished && ports[s.Local.Port()] {
			n++
		}
	}
	return n
}

package forward

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The msgpack this client writes and reads: the encoders of the few types
// a message holds, a skipper that finds where any value ends, and a
// decoder of what a receiver answers (acks, HELO, PONG). It replaces a
// general msgpack library, which cost the binary about 90 KB for these
// few functions.

// errShortBytes: the bytes end inside a value (more are to come).
var errShortBytes = errors.New("msgpack: the bytes end inside a value")

// maxDepth bounds the nesting decodeValue follows: a receiver's answer is
// two levels deep.
const maxDepth = 16

// appendMapHeader appends the header of a map of n pairs.
func appendMapHeader(b []byte, n uint32) []byte { return appendHeader(b, n, 0x80, 0xde, 0xdf) }

// appendArrayHeader appends the header of an array of n values.
func appendArrayHeader(b []byte, n uint32) []byte { return appendHeader(b, n, 0x90, 0xdc, 0xdd) }

// appendHeader appends the header of a map or an array of n entries: the
// fix form (fix|n) below 16, then the 16-bit and the 32-bit forms.
func appendHeader(b []byte, n uint32, fix, code16, code32 byte) []byte {
	switch {
	case n < 16:
		return append(b, fix|byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, code16), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, code32), n)
	}
}

// appendString appends s as a msgpack str.
func appendString(b []byte, s string) []byte {
	return append(appendStrHeader(b, len(s)), s...)
}

// appendStringBytes appends s as a msgpack str.
func appendStringBytes(b []byte, s []byte) []byte {
	return append(appendStrHeader(b, len(s)), s...)
}

// appendInt appends i in the smallest integer encoding.
func appendInt(b []byte, i int64) []byte {
	switch {
	case i >= 0 && i < 128, i < 0 && i >= -32:
		return append(b, byte(i))
	case i >= math.MinInt8 && i <= math.MaxInt8:
		return append(b, 0xd0, byte(i))
	case i >= math.MinInt16 && i <= math.MaxInt16:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(i))
	case i >= math.MinInt32 && i <= math.MaxInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(i))
	default:
		return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(i))
	}
}

// skipValue returns b after its first value, or errShortBytes when b ends
// inside it. It follows nesting without recursion.
func skipValue(b []byte) ([]byte, error) {
	// left counts the values still to skip: nested maps and arrays add
	// their elements.
	for left := uint64(1); left > 0; left-- {
		if len(b) == 0 {
			return nil, errShortBytes
		}
		t := b[0]
		head, size, elems := 1, uint64(0), uint64(0)
		switch {
		case t <= 0x7f || t >= 0xe0, t == 0xc0, t == 0xc2, t == 0xc3:
		case t <= 0x8f:
			elems = 2 * uint64(t&0x0f)
		case t <= 0x9f:
			elems = uint64(t & 0x0f)
		case t <= 0xbf:
			size = uint64(t & 0x1f)
		default:
			var err error
			if head, size, elems, err = sizes(b); err != nil {
				return nil, err
			}
		}
		if uint64(len(b)) < uint64(head)+size {
			return nil, errShortBytes
		}
		b = b[uint64(head)+size:]
		left += elems
	}
	return b, nil
}

// sizes returns, for a value starting with a type byte from 0xc4 on, the
// length of its head, the bytes of its payload, and the elements that
// follow it (for arrays and maps).
func sizes(b []byte) (head int, size, elems uint64, err error) {
	n := func(k int) (uint64, error) {
		if len(b) < 1+k {
			return 0, errShortBytes
		}
		switch k {
		case 1:
			return uint64(b[1]), nil
		case 2:
			return uint64(binary.BigEndian.Uint16(b[1:])), nil
		default:
			return uint64(binary.BigEndian.Uint32(b[1:])), nil
		}
	}
	t := b[0]
	switch t {
	case 0xc4, 0xc5, 0xc6: // bin 8, 16, 32
		k := 1 << (t - 0xc4)
		size, err = n(k)
		return 1 + k, size, 0, err
	case 0xc7, 0xc8, 0xc9: // ext 8, 16, 32: length, type, payload
		k := 1 << (t - 0xc7)
		size, err = n(k)
		return 2 + k, size, 0, err
	case 0xca, 0xcb: // float 32, 64
		return 1, 4 << (t - 0xca), 0, nil
	case 0xcc, 0xcd, 0xce, 0xcf: // uint 8 to 64
		return 1, 1 << (t - 0xcc), 0, nil
	case 0xd0, 0xd1, 0xd2, 0xd3: // int 8 to 64
		return 1, 1 << (t - 0xd0), 0, nil
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1 to 16: type, payload
		return 2, 1 << (t - 0xd4), 0, nil
	case 0xd9, 0xda, 0xdb: // str 8, 16, 32
		k := 1 << (t - 0xd9)
		size, err = n(k)
		return 1 + k, size, 0, err
	case 0xdc, 0xdd: // array 16, 32
		k := 2 << (t - 0xdc)
		elems, err = n(k)
		return 1 + k, 0, elems, err
	case 0xde, 0xdf: // map 16, 32
		k := 2 << (t - 0xde)
		elems, err = n(k)
		return 1 + k, 0, 2 * elems, err
	}
	return 0, 0, 0, fmt.Errorf("msgpack: 0x%02x is not a type", t)
}

// readArrayHeader reads an array's header: its length and what follows.
func readArrayHeader(b []byte) (int, []byte, error) {
	if len(b) == 0 {
		return 0, nil, errShortBytes
	}
	switch t := b[0]; {
	case t >= 0x90 && t <= 0x9f:
		return int(t & 0x0f), b[1:], nil
	case t == 0xdc || t == 0xdd:
		head, _, elems, err := sizes(b)
		if err != nil {
			return 0, nil, err
		}
		return int(elems), b[head:], nil
	}
	return 0, nil, fmt.Errorf("msgpack: 0x%02x is not an array", b[0])
}

// isMap reports whether b starts with a map.
func isMap(b []byte) bool {
	return len(b) > 0 && (b[0]&0xf0 == 0x80 || b[0] == 0xde || b[0] == 0xdf)
}

// decodeValue decodes the first value of b, which must be whole (see
// skipValue): nil, bool, int64, uint64, float64, string (str), []byte
// (bin, copied), []any, map[string]any (keys str or bin), and nil for an
// extension. It returns what follows.
func decodeValue(b []byte, depth int) (any, []byte, error) {
	if depth > maxDepth {
		return nil, nil, errors.New("msgpack: nested too deep")
	}
	if len(b) == 0 {
		return nil, nil, errShortBytes
	}
	t := b[0]
	switch {
	case t <= 0x7f:
		return int64(t), b[1:], nil
	case t >= 0xe0:
		return int64(int8(t)), b[1:], nil
	case t <= 0x8f, t == 0xde, t == 0xdf:
		return decodeMap(b, depth)
	case t <= 0x9f, t == 0xdc, t == 0xdd:
		n, rest, err := readArrayHeader(b)
		if err != nil {
			return nil, nil, err
		}
		a := make([]any, 0, min(n, 64))
		for range n {
			var v any
			if v, rest, err = decodeValue(rest, depth+1); err != nil {
				return nil, nil, err
			}
			a = append(a, v)
		}
		return a, rest, nil
	case t == 0xc0:
		return nil, b[1:], nil
	case t == 0xc2, t == 0xc3:
		return t == 0xc3, b[1:], nil
	}
	rest, err := skipValue(b)
	if err != nil {
		return nil, nil, err
	}
	head := 1
	if t > 0xbf {
		head, _, _, _ = sizes(b)
	}
	p := b[head : len(b)-len(rest)]
	switch {
	case t <= 0xbf, t >= 0xd9 && t <= 0xdb:
		return string(p), rest, nil
	case t >= 0xc4 && t <= 0xc6:
		return append([]byte{}, p...), rest, nil
	case t == 0xca:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(p))), rest, nil
	case t == 0xcb:
		return math.Float64frombits(binary.BigEndian.Uint64(p)), rest, nil
	case t >= 0xcc && t <= 0xcf:
		return readUint(p), rest, nil
	case t >= 0xd0 && t <= 0xd3:
		u := readUint(p)
		shift := 64 - 8*len(p)
		return int64(u<<shift) >> shift, rest, nil
	}
	// An extension (and fixext) carries nothing a receiver's answer needs.
	return nil, rest, nil
}

// decodeMap decodes a map whose keys are str or bin.
func decodeMap(b []byte, depth int) (any, []byte, error) {
	var n uint64
	rest := b[1:]
	if b[0] <= 0x8f {
		n = uint64(b[0] & 0x0f)
	} else {
		head, _, elems, err := sizes(b)
		if err != nil {
			return nil, nil, err
		}
		n, rest = elems/2, b[head:]
	}
	m := make(map[string]any, min(n, 16))
	for range n {
		k, r, err := decodeValue(rest, depth+1)
		if err != nil {
			return nil, nil, err
		}
		key, ok := text(k)
		if !ok {
			return nil, nil, fmt.Errorf("msgpack: a map key of type %T, not a string", k)
		}
		var v any
		if v, rest, err = decodeValue(r, depth+1); err != nil {
			return nil, nil, err
		}
		m[key] = v
	}
	return m, rest, nil
}

// readUint reads a big-endian unsigned integer of 1, 2, 4 or 8 bytes.
func readUint(p []byte) uint64 {
	var u uint64
	for _, c := range p {
		u = u<<8 | uint64(c)
	}
	return u
}

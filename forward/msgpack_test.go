package forward

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/tinylib/msgp/msgp"
)

// The encoders write what an independent msgpack library reads back, at
// every size class of their headers and integers.
func TestMsgpackEncodersReadBackWithAnotherLibrary(t *testing.T) {
	for _, n := range []uint32{0, 1, 15, 16, 255, 65535, 65536} {
		if got, rest, err := msgp.ReadMapHeaderBytes(appendMapHeader(nil, n)); got != n || err != nil || len(rest) != 0 {
			t.Errorf("map header %d read as %d (%v)", n, got, err)
		}
		if got, _, err := msgp.ReadArrayHeaderBytes(appendArrayHeader(nil, n)); got != n || err != nil {
			t.Errorf("array header %d read as %d (%v)", n, got, err)
		}
	}
	for _, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536} {
		s := strings.Repeat("s", n)
		if got, rest, err := msgp.ReadStringBytes(appendString(nil, s)); got != s || err != nil || len(rest) != 0 {
			t.Errorf("string of %d read back as %d bytes (%v)", n, len(got), err)
		}
		if got, _, err := msgp.ReadStringBytes(appendStringBytes(nil, []byte(s))); got != s || err != nil {
			t.Errorf("string bytes of %d read back as %d bytes (%v)", n, len(got), err)
		}
	}
	for _, i := range []int64{0, 1, 127, 128, 255, 256, 32767, 32768, 1 << 31, 1 << 40, math.MaxInt64,
		-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64} {
		if got, rest, err := msgp.ReadInt64Bytes(appendInt(nil, i)); got != i || err != nil || len(rest) != 0 {
			t.Errorf("int %d read back as %d (%v)", i, got, err)
		}
	}
}

// What another library writes, of every type, the decoder reads as the
// same values, and the skipper finds where each value ends; a value cut
// anywhere short is errShortBytes to both, never a wrong value.
func TestMsgpackDecoderReadsWhatAnotherLibraryWrote(t *testing.T) {
	type tc struct {
		enc  []byte
		want any
	}
	var cases []tc
	add := func(enc []byte, want any) { cases = append(cases, tc{enc, want}) }
	add(msgp.AppendNil(nil), nil)
	add(msgp.AppendBool(nil, true), true)
	add(msgp.AppendBool(nil, false), false)
	for _, i := range []int64{0, 5, 127, -1, -32, -100, 1000, -1000, 1 << 20, -1 << 20, 1 << 40, math.MinInt64} {
		add(msgp.AppendInt64(nil, i), i)
	}
	for _, u := range []uint64{200, 60000, 1 << 30, math.MaxUint64} {
		add(msgp.AppendUint64(nil, u), u)
	}
	add(msgp.AppendFloat64(nil, 1.5), 1.5)
	add(msgp.AppendFloat32(nil, 2.5), 2.5)
	for _, n := range []int{0, 31, 32, 255, 256, 70000} {
		add(msgp.AppendString(nil, strings.Repeat("a", n)), strings.Repeat("a", n))
		add(msgp.AppendBytes(nil, bytes.Repeat([]byte{7}, n)), bytes.Repeat([]byte{7}, n))
	}
	long := msgp.AppendArrayHeader(nil, 20)
	var longWant []any
	for i := range 20 {
		long = msgp.AppendInt64(long, int64(i))
		longWant = append(longWant, int64(i))
	}
	add(long, longWant)
	ack := msgp.AppendMapHeader(nil, 1)
	ack = msgp.AppendString(ack, "ack")
	ack = msgp.AppendString(ack, "QUJDREVGR0hJSktMTU5PUFFSU1RV")
	add(ack, map[string]any{"ack": "QUJDREVGR0hJSktMTU5PUFFSU1RV"})
	helo := msgp.AppendArrayHeader(nil, 2)
	helo = msgp.AppendString(helo, "HELO")
	helo = msgp.AppendMapHeader(helo, 3)
	helo = msgp.AppendString(helo, "nonce")
	helo = msgp.AppendBytes(helo, []byte{1, 2, 3})
	helo = msgp.AppendString(helo, "auth")
	helo = msgp.AppendString(helo, "")
	helo = msgp.AppendString(helo, "keepalive")
	helo = msgp.AppendBool(helo, true)
	add(helo, []any{"HELO", map[string]any{"nonce": []byte{1, 2, 3}, "auth": "", "keepalive": true}})
	big := msgp.AppendMapHeader(nil, 20)
	bigWant := map[string]any{}
	for i := range 20 {
		k := strings.Repeat("k", i+1)
		big = msgp.AppendString(big, k)
		var err error
		if big, err = msgp.AppendExtension(big, &msgp.RawExtension{Type: 5, Data: bytes.Repeat([]byte{1}, i)}); err != nil {
			t.Fatal(err)
		}
		bigWant[k] = nil
	}
	add(big, bigWant)

	for i, c := range cases {
		tail := []byte{0xc0, 0x01}
		whole := append(append([]byte(nil), c.enc...), tail...)
		rest, err := skipValue(whole)
		if err != nil || !bytes.Equal(rest, tail) {
			t.Errorf("case %d (% x...): skip left % x (%v), want % x", i, c.enc[:min(8, len(c.enc))], rest, err, tail)
		}
		v, rest, err := decodeValue(whole, 0)
		if err != nil || !bytes.Equal(rest, tail) || !reflect.DeepEqual(v, c.want) {
			t.Errorf("case %d (% x...): decoded %#v (%v), rest % x; want %#v", i, c.enc[:min(8, len(c.enc))], v, err, rest, c.want)
		}
		for cut := range len(c.enc) {
			if _, err := skipValue(c.enc[:cut]); !errors.Is(err, errShortBytes) {
				t.Fatalf("case %d cut at %d of %d: skip says %v", i, cut, len(c.enc), err)
			}
		}
	}
}

// Whatever the bytes, the skipper and the decoder agree with another
// library on where a value ends, and never panic.
func FuzzMsgpackSkip(f *testing.F) {
	f.Add([]byte{0x81, 0xa3, 'a', 'c', 'k', 0xa1, 'x'})
	f.Add([]byte{0x92, 0xa4, 'H', 'E', 'L', 'O', 0x80})
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0xc7, 0x02, 0x01, 0xaa, 0xbb})
	f.Fuzz(func(t *testing.T, b []byte) {
		rest, err := skipValue(b)
		want, werr := msgp.Skip(b)
		if (err == nil) != (werr == nil) {
			t.Fatalf("skip % x: %v; msgp: %v", b, err, werr)
		}
		if err == nil && len(rest) != len(want) {
			t.Fatalf("skip % x left %d bytes; msgp %d", b, len(rest), len(want))
		}
		if err == nil {
			if _, r, err := decodeValue(b, 0); err == nil && len(r) != len(rest) {
				t.Fatalf("decode % x left %d bytes; skip %d", b, len(r), len(rest))
			}
		}
	})
}

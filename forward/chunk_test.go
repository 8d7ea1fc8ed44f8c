package forward

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// entry is one decoded [EventTime, record] entry.
type entry struct {
	time   time.Time
	record map[string]any
}

// decodeMessage decodes a PackedForward message as a receiver does: the
// tag, every entry of the bin, and the option map.
func decodeMessage(t *testing.T, msg []byte) (tag string, entries []entry, option map[string]any) {
	t.Helper()
	n, b, err := msgp.ReadArrayHeaderBytes(msg)
	if err != nil || n != 3 {
		t.Fatalf("message: array of %d (%v), want 3", n, err)
	}
	tag, b, err = msgp.ReadStringBytes(b)
	if err != nil {
		t.Fatalf("tag: %v", err)
	}
	bin, b, err := msgp.ReadBytesZC(b)
	if err != nil {
		t.Fatalf("entries: %v", err)
	}
	option, b, err = msgp.ReadMapStrIntfBytes(b, nil)
	if err != nil {
		t.Fatalf("option: %v", err)
	}
	if len(b) != 0 {
		t.Fatalf("%d bytes after the message", len(b))
	}
	for len(bin) > 0 {
		n, bin, err = msgp.ReadArrayHeaderBytes(bin)
		if err != nil || n != 2 {
			t.Fatalf("entry %d: array of %d (%v), want 2", len(entries), n, err)
		}
		if len(bin) < 10 || bin[0] != 0xd7 || bin[1] != 0 {
			t.Fatalf("entry %d: time is not an EventTime (fixext8 type 0): % x", len(entries), bin[:min(10, len(bin))])
		}
		tm := time.Unix(int64(binary.BigEndian.Uint32(bin[2:])), int64(binary.BigEndian.Uint32(bin[6:])))
		var rec map[string]any
		rec, bin, err = msgp.ReadMapStrIntfBytes(bin[10:], nil)
		if err != nil {
			t.Fatalf("entry %d: record: %v", len(entries), err)
		}
		entries = append(entries, entry{tm, rec})
	}
	return tag, entries, option
}

// Every header size the encoder picks (tags and chunks around the msgpack
// size classes) decodes to what was appended.
func TestChunkDecodesToWhatWasAppended(t *testing.T) {
	when := time.Date(2026, 5, 4, 3, 2, 1, 123456789, time.UTC)
	for _, tagLen := range []int{0, 1, 31, 32, 255, 256, 70000} {
		for _, records := range []int{0, 1, 3, 700, 2000} {
			t.Run(fmt.Sprintf("tag%d/records%d", tagLen, records), func(t *testing.T) {
				tag := strings.Repeat("t", tagLen)
				var c Chunk
				c.Reset(tag)
				for i := range records {
					c.Append(when.Add(time.Duration(i)), &Record{
						Message: []byte(fmt.Sprintf("line %d", i)),
						Program: "main", Stream: "stdout", Host: "pod-1",
						Partial: i%2 == 1, Tend: i%3 == 1, File: strings.Repeat("f", i%4),
					})
				}
				if c.Len() != records {
					t.Errorf("Len = %d, want %d", c.Len(), records)
				}
				c.setIDForTest("AAAAAAAAAAAAAAAAAAAAAAAA")
				gotTag, entries, option := decodeMessage(t, c.message(true))
				if gotTag != tag {
					t.Errorf("tag of %d bytes, want %d", len(gotTag), len(tag))
				}
				if len(entries) != records {
					t.Fatalf("%d entries, want %d", len(entries), records)
				}
				if option["size"] != int64(records) || option["chunk"] != "AAAAAAAAAAAAAAAAAAAAAAAA" {
					t.Errorf("option = %v", option)
				}
				for i, e := range entries {
					if !e.time.Equal(when.Add(time.Duration(i))) {
						t.Fatalf("entry %d: time %v, want %v", i, e.time, when.Add(time.Duration(i)))
					}
					want := map[string]any{"message": fmt.Sprintf("line %d", i), "program": "main", "stream": "stdout", "host": "pod-1"}
					if i%2 == 1 {
						want["partial"] = true
					}
					if i%3 == 1 {
						want["tend"] = true
					}
					if i%4 != 0 {
						want["file"] = strings.Repeat("f", i%4)
					}
					if fmt.Sprint(e.record) != fmt.Sprint(want) {
						t.Fatalf("entry %d: %v, want %v", i, e.record, want)
					}
				}
			})
		}
	}
}

// A chunk sent without ack carries only "size"; appending after a send
// (the option is cut off again) and Reset (the buffer kept) give the
// right message.
func TestChunkOptionAndReuse(t *testing.T) {
	var c Chunk // the zero value: empty tag
	c.Append(time.Unix(5, 0), &Record{Message: []byte("a"), Program: "p", Stream: "stdout"})
	if tag, entries, option := decodeMessage(t, c.message(false)); tag != "" || len(entries) != 1 || len(option) != 1 || option["size"] != int64(1) {
		t.Fatalf("tag %q, %d entries, option %v", tag, len(entries), option)
	}
	c.AppendRaw(time.Unix(6, 0), msgp.AppendString(msgp.AppendString(msgp.AppendMapHeader(nil, 1), "k"), "v"))
	_, entries, option := decodeMessage(t, c.message(false))
	if len(entries) != 2 || option["size"] != int64(2) || entries[1].record["k"] != "v" || !entries[1].time.Equal(time.Unix(6, 0)) {
		t.Fatalf("after a second append: %v, option %v", entries, option)
	}
	buf := &c.buf[0]
	c.Reset("again")
	c.Append(time.Unix(7, 0), &Record{Message: []byte("b"), Program: "p", Stream: "stderr"})
	tag, entries, _ := decodeMessage(t, c.message(false))
	if tag != "again" || len(entries) != 1 || entries[0].record["message"] != "b" {
		t.Fatalf("after Reset: tag %q, %v", tag, entries)
	}
	if &c.buf[0] != buf {
		t.Error("Reset did not keep the buffer")
	}
	if c.Size() != len(c.buf)-c.head {
		t.Errorf("Size = %d", c.Size())
	}
}

// Times outside EventTime's unsigned 32-bit seconds are clamped, not
// wrapped into another date.
func TestChunkClampsTimesOutsideEventTime(t *testing.T) {
	var c Chunk
	c.Append(time.Unix(-5, 7), &Record{})
	c.Append(time.Unix(1<<33, 7), &Record{})
	_, entries, _ := decodeMessage(t, c.message(false))
	if !entries[0].time.Equal(time.Unix(0, 0)) || entries[1].time.Unix() != 1<<32-1 {
		t.Errorf("times %v, %v", entries[0].time, entries[1].time)
	}
}

// Appending a record to a chunk that has grown to its size allocates
// nothing: the sink appends every log line this way.
func TestChunkAppendDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	var c Chunk
	c.Reset("tend.main.stdout")
	rec := Record{Message: bytes.Repeat([]byte("x"), 120), Program: "main", Stream: "stdout", Host: "pod-1"}
	now := time.Now()
	for range 1000 {
		c.Append(now, &rec)
	}
	allocs := testing.AllocsPerRun(100, func() {
		c.Reset("tend.main.stdout")
		for range 1000 {
			c.Append(now, &rec)
		}
		c.message(true)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per 1000 records", allocs)
	}
}

// A chunk made at the sink's seal size takes records up to that size, and
// the option map of a send, in the buffer it was made with: a sink that
// grew its chunks as records came would drop buffers of four times the
// chunk's size on the way, in a burst to Fluentd.
func TestNewChunkFillsToItsSizeWithoutAllocating(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	const size = 256 << 10
	rec := Record{Message: bytes.Repeat([]byte("x"), 120), Program: "main", Stream: "stdout", Host: "pod-1"}
	now := time.Now()
	allocs := testing.AllocsPerRun(20, func() {
		c := NewChunk(size)
		c.Reset("tend.main.stdout")
		for {
			before := c.Size()
			c.Append(now, &rec)
			if step := c.Size() - before; c.Size()+step > size {
				break
			}
		}
		c.setIDForTest("AAAAAAAAAAAAAAAAAAAAAAAA")
		c.message(true)
	})
	if allocs != 1 {
		t.Errorf("%v allocations to make and fill a chunk of %d bytes, want 1 (the chunk)", allocs, size)
	}
	// A chunk that was made smaller grows to the size at once.
	var c Chunk
	c.Reset("tend.main.stdout")
	c.Grow(size, size)
	allocs = testing.AllocsPerRun(20, func() {
		c.Reset("tend.main.stdout")
		for c.Size()+200 < size {
			c.Append(now, &rec)
		}
		c.message(false)
	})
	if allocs != 0 {
		t.Errorf("%v allocations to fill a chunk grown to %d bytes", allocs, size)
	}
}

// A small chunk filled record by record, growing as the sink grows it,
// doubles its buffer: about ten allocations on the way from 1 to 256 KiB
// (a quarter more each time would take 25, and leave 1 MiB behind), and
// its buffer ends no larger than the size it is sealed at.
func TestChunkGrowsByDoublingUpToItsSize(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	const size = 256 << 10
	rec := Record{Message: bytes.Repeat([]byte("x"), 120), Program: "main", Stream: "stdout", Host: "pod-1"}
	const need = 120 + 64 + len("main") + len("stdout") + len("pod-1") // the sink's bound of one entry
	now := time.Now()
	var c *Chunk
	allocs := testing.AllocsPerRun(20, func() {
		c = NewChunk(1 << 10)
		c.Reset("tend.main.stdout")
		for c.Size()+need <= size {
			if c.Available() < need {
				c.Grow(need, size)
			}
			c.Append(now, &rec)
		}
	})
	if allocs > 12 {
		t.Errorf("%v allocations to fill a chunk from 1 KiB to %d bytes, want at most 12", allocs, size)
	}
	if room := c.Size() + c.Available(); room > size+need {
		t.Errorf("a chunk holding %d bytes has room for %d, more than the %d it is sealed at", c.Size(), room, size)
	}
}

// A chunk's entries copied out (as a spool keeps them on disk) and
// appended to another chunk make the same message; a damaged copy (cut
// short, or not entries at all) is refused whole.
func TestChunkEntriesCopiedIntoAnotherChunkSendTheSame(t *testing.T) {
	when := time.Date(2026, 5, 4, 3, 2, 1, 123456789, time.UTC)
	var a Chunk
	a.Reset("tend.main.stdout")
	for i := range 500 {
		a.Append(when.Add(time.Duration(i)), &Record{Message: []byte(fmt.Sprintf("line %d", i)), Program: "main", Stream: "stdout", Tend: i == 7})
	}
	a.AppendRaw(when, msgp.AppendMapStrStr(nil, map[string]string{"message": "raw"}))
	saved := append([]byte(nil), a.Entries()...)
	if len(saved) != a.Size() {
		t.Fatalf("Entries has %d bytes, Size says %d", len(saved), a.Size())
	}

	var b Chunk
	b.Reset("tend.main.stdout")
	if err := b.AppendEntries(saved); err != nil {
		t.Fatal(err)
	}
	if b.Len() != a.Len() || !bytes.Equal(b.message(false), a.message(false)) {
		t.Fatalf("the copy has %d entries and another message; the original %d", b.Len(), a.Len())
	}
	// Appending to a chunk that already has entries adds to them.
	if err := b.AppendEntries(saved[:0]); err != nil || b.Len() != a.Len() {
		t.Fatalf("no entries: %v, Len %d", err, b.Len())
	}

	for name, bad := range map[string][]byte{
		"cut short":    saved[:len(saved)-3],
		"not an entry": []byte{0x93, 0x01, 0x02, 0x03},
		"no map":       {0x92, 0x01, 0x02},
	} {
		var c Chunk
		c.Reset("t")
		if err := c.AppendEntries(bad); err == nil {
			t.Errorf("%s: taken", name)
		}
		if c.Len() != 0 || c.Size() != 0 {
			t.Errorf("%s: the chunk holds %d entries (%d bytes) after the refusal", name, c.Len(), c.Size())
		}
	}
}

// setIDForTest gives the chunk a fixed id.
func (c *Chunk) setIDForTest(id string) {
	copy(c.id[:], id)
	c.hasID = true
}

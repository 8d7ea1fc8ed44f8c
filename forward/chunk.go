package forward

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Record is one log record as tend sends it. Append encodes it as the map
//
//	{"message": ..., "program": ..., "stream": ..., "host": ...}
//
// plus "file", "partial": true and "tend": true when set. Empty Host and
// File are left out. Message is the program's bytes as a msgpack str,
// as they are: invalid UTF-8 is not repaired here.
type Record struct {
	// Message is the record's text, without the final newline.
	Message []byte
	// Program is the name of the program that wrote it.
	Program string
	// Stream is "stdout", "stderr", or the name of a tailed file's stream.
	Stream string
	// Host is the host (pod) name; left out when empty.
	Host string
	// File is the path of the watched file the record was read from;
	// left out when empty.
	File string
	// Partial marks a piece of a line longer than the line limit.
	Partial bool
	// Tend marks a line tend wrote itself (a marker about dropped lines).
	Tend bool
}

// Chunk is one PackedForward message under construction: a tag and the
// concatenated msgpack entries [EventTime, record], encoded straight into
// one growing buffer. Appending costs no allocation once the buffer has
// grown to the chunk size the caller keeps to, so a caller reuses chunks
// (Reset) rather than making new ones.
//
// The zero value is an empty chunk with the empty tag. A chunk handed to
// Client.Send belongs to the client until Send or Flush returns it as
// settled (or Send returns an error, meaning it was not taken): it must
// not be changed meanwhile.
type Chunk struct {
	tag string
	// buf is head bytes kept free for the message header, then the
	// entries, then, while the chunk is being written, the option map.
	buf  []byte
	head int
	n    int
	// id is the chunk's id in base64, given by the client when it
	// first sends the chunk with ack on and kept for resends.
	id    [idLen]byte
	hasID bool
	// acked is set when the receiver acknowledged id.
	acked bool
	// ackBy is when the client gives up waiting for the ack.
	ackBy time.Time
}

// optionRoom bounds the option map that sending appends after the
// entries: {"size": n, "chunk": id}.
const optionRoom = 1 + 5 + 9 + 6 + 2 + idLen

// NewChunk returns an empty chunk whose buffer holds size bytes of
// entries, under a tag of up to 48 bytes, and the option map: filling it
// to size allocates nothing.
func NewChunk(size int) *Chunk {
	return &Chunk{buf: make([]byte, 0, headSize(48)+size+optionRoom)}
}

// Available returns how many more bytes of entries the chunk's buffer
// takes, the option map's room kept, before an Append allocates.
func (c *Chunk) Available() int {
	if c.head == 0 {
		return 0
	}
	return max(cap(c.buf)-len(c.buf)-optionRoom, 0)
}

// Grow makes room for n more bytes of entries and the option map, so
// that appending them allocates nothing. When it must allocate, it at
// least doubles the room for entries, but not past upTo bytes of them
// unless n needs more: a chunk filled record by record up to upTo bytes
// is grown a handful of times and never past that size.
func (c *Chunk) Grow(n, upTo int) {
	if c.head == 0 {
		c.Reset(c.tag)
	}
	if c.Available() >= n {
		return
	}
	size := len(c.buf) - c.head
	room := max(size+n, min(2*size, upTo))
	c.buf = append(make([]byte, 0, c.head+room+optionRoom), c.buf...)
}

// Reset empties the chunk and gives it a tag; it keeps the buffer.
func (c *Chunk) Reset(tag string) {
	c.tag = tag
	// The header is [fixarray 3][str header][tag][bin header]: at most
	// 1 + 5 + len(tag) + 5 bytes, written right before the entries when
	// the message is sent, so that the message is one contiguous slice.
	c.head = headSize(len(tag))
	if cap(c.buf) < c.head {
		c.buf = make([]byte, c.head, c.head+64<<10)
	}
	c.buf = c.buf[:c.head]
	c.n = 0
	c.hasID = false
	c.acked = false
}

// Tag returns the chunk's tag.
func (c *Chunk) Tag() string { return c.tag }

// Len returns the number of entries in the chunk.
func (c *Chunk) Len() int { return c.n }

// Size returns the encoded size of the entries in bytes: what the chunk
// adds to the wire, less a header of a few bytes plus the tag.
func (c *Chunk) Size() int {
	if c.head == 0 {
		return 0
	}
	return len(c.buf) - c.head
}

// Append adds one entry: the event time t, with nanoseconds, and the
// record r.
func (c *Chunk) Append(t time.Time, r *Record) {
	if c.head == 0 {
		c.Reset(c.tag)
	}
	b := appendEntryHead(c.buf, t)
	n := uint32(3)
	if r.Host != "" {
		n++
	}
	if r.File != "" {
		n++
	}
	if r.Partial {
		n++
	}
	if r.Tend {
		n++
	}
	b = appendMapHeader(b, n)
	b = append(b, "\xa7message"...)
	b = appendStringBytes(b, r.Message)
	b = append(b, "\xa7program"...)
	b = appendString(b, r.Program)
	b = append(b, "\xa6stream"...)
	b = appendString(b, r.Stream)
	if r.Host != "" {
		b = append(b, "\xa4host"...)
		b = appendString(b, r.Host)
	}
	if r.File != "" {
		b = append(b, "\xa4file"...)
		b = appendString(b, r.File)
	}
	if r.Partial {
		b = append(b, "\xa7partial\xc3"...)
	}
	if r.Tend {
		b = append(b, "\xa4tend\xc3"...)
	}
	c.buf = b
	c.n++
}

// AppendRaw adds one entry whose record is already msgpack: record must
// be exactly one encoded map. It is for records other than Record's.
func (c *Chunk) AppendRaw(t time.Time, record []byte) {
	if c.head == 0 {
		c.Reset(c.tag)
	}
	c.buf = append(appendEntryHead(c.buf, t), record...)
	c.n++
}

// Entries returns the chunk's encoded entries, what Size counts: the bytes
// a caller keeps (on disk, say) to send the chunk again later through
// AppendEntries, possibly after a restart. The slice is the chunk's own,
// valid until the chunk changes; the caller must not modify it.
func (c *Chunk) Entries() []byte {
	if c.head == 0 {
		return nil
	}
	return c.buf[c.head:]
}

// AppendEntries adds entries that Entries returned (of this chunk or
// another): b must hold whole entries, each a 2-array of a time and a
// record map. It checks that, and appends nothing and returns an error
// when b is not, so that a damaged copy never reaches the receiver.
func (c *Chunk) AppendEntries(b []byte) error {
	n := 0
	for rest := b; len(rest) > 0; n++ {
		at := len(b) - len(rest)
		size, r, err := readArrayHeader(rest)
		if err != nil || size != 2 {
			return fmt.Errorf("forward: entry %d at byte %d: not a 2-array (%v)", n, at, err)
		}
		if r, err = skipValue(r); err != nil {
			return fmt.Errorf("forward: entry %d at byte %d: time: %w", n, at, err)
		}
		if !isMap(r) {
			return fmt.Errorf("forward: entry %d at byte %d: the record is not a map", n, at)
		}
		if rest, err = skipValue(r); err != nil {
			return fmt.Errorf("forward: entry %d at byte %d: record: %w", n, at, err)
		}
	}
	if c.head == 0 {
		c.Reset(c.tag)
	}
	c.buf = append(c.buf, b...)
	c.n += n
	return nil
}

// appendEntryHead appends the start of an entry: a 2-array and the event
// time as the forward protocol's EventTime, ext type 0 with 4 bytes of
// seconds and 4 of nanoseconds, big-endian.
func appendEntryHead(b []byte, t time.Time) []byte {
	sec := t.Unix()
	nsec := t.Nanosecond()
	// EventTime holds unsigned 32-bit seconds: a time outside it (a
	// broken clock) is clamped rather than wrapped.
	if sec < 0 {
		sec, nsec = 0, 0
	} else if sec > 1<<32-1 {
		sec = 1<<32 - 1
	}
	b = append(b, 0x92, 0xd7, 0x00)
	b = binary.BigEndian.AppendUint32(b, uint32(sec))
	return binary.BigEndian.AppendUint32(b, uint32(nsec))
}

// message returns the whole PackedForward message
//
//	[tag, bin(entries), {"size": n[, "chunk": id]}]
//
// in the chunk's own buffer: the header goes into the space kept before
// the entries, the option after them (and is cut off again by the next
// Append, as Append starts from the end of the entries).
func (c *Chunk) message(withID bool) []byte {
	if c.head == 0 {
		c.Reset(c.tag)
	}
	end := len(c.buf)
	size := end - c.head

	var hdr [1 + 5 + 5]byte // without the tag
	h := append(hdr[:0], 0x93)
	h = appendStrHeader(h, len(c.tag))
	start := c.head - len(h) - len(c.tag) - binHeaderSize(size)
	copy(c.buf[start:], h)
	copy(c.buf[start+len(h):], c.tag)
	bh := appendBinHeader(hdr[:0], size)
	copy(c.buf[c.head-len(bh):], bh)

	b := c.buf
	if withID {
		b = append(b, 0x82)
	} else {
		b = append(b, 0x81)
	}
	b = append(b, "\xa4size"...)
	b = appendInt(b, int64(c.n))
	if withID {
		b = append(b, "\xa5chunk"...)
		b = appendStringBytes(b, c.id[:])
	}
	// Keep the grown buffer (if the option made it grow) but not the
	// option: Append and Size see the entries' end.
	c.buf = b[:end]
	return b[start:]
}

// headSize is the room kept before the entries for the message's header
// under a tag of n bytes.
func headSize(n int) int {
	return 1 + strHeaderSize(n) + n + 5
}

// strHeaderSize is the size of a msgpack str header for n bytes.
func strHeaderSize(n int) int {
	switch {
	case n < 32:
		return 1
	case n < 1<<8:
		return 2
	case n < 1<<16:
		return 3
	default:
		return 5
	}
}

// appendStrHeader appends a msgpack str header for n bytes.
func appendStrHeader(b []byte, n int) []byte {
	switch {
	case n < 32:
		return append(b, 0xa0|byte(n))
	case n < 1<<8:
		return append(b, 0xd9, byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
}

// binHeaderSize is the size of a msgpack bin header for n bytes.
func binHeaderSize(n int) int {
	switch {
	case n < 1<<8:
		return 2
	case n < 1<<16:
		return 3
	default:
		return 5
	}
}

// appendBinHeader appends a msgpack bin header for n bytes.
func appendBinHeader(b []byte, n int) []byte {
	switch {
	case n < 1<<8:
		return append(b, 0xc4, byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, 0xc5), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
}

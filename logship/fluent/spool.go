package fluent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"tend/budget"
	"tend/forward"
)

// The spool is a directory of chunk files, one per chunk, named by the
// chunk's sequence number (16 hex digits, ".chunk"), so that the names
// sort in the order the chunks were sealed, across runs. A file is
// written as NAME.tmp and renamed, so that a crash never leaves half a
// chunk under a chunk's name, and deleted only once its chunk is settled:
// a chunk spooled when tend stopped is sent at the next start, once.
//
// A file is
//
//	"TENDFWD1", a 4-byte big-endian header length,
//	the header: tag, program and stream (each a 4-byte length and the bytes),
//	            entries, records, raw bytes, lines and bytes its markers
//	            announce (8 bytes each), CRC-32C of the entries (4 bytes)
//	the entries, as forward.Chunk.Entries returns them.
//
// Every file is counted under the disk budget (owner: the program),
// retired at once: when the budget needs room it deletes the oldest,
// which are then counted as dropped.
type spool struct {
	dir    string
	cap    int64
	budget *budget.Budget
	log    *zap.Logger
	// Under Sink.mu: the files, their entries and bytes, and when a write
	// may be tried again after one failed.
	files, entries, bytes int64
	retryAt               time.Time
}

// spoolFile is one chunk file.
type spoolFile struct {
	path  string
	size  int64
	entry *budget.Entry // nil without a budget
}

const (
	spoolMagic = "TENDFWD1"
	// spoolRetry is how long after a failed write the spool is not tried.
	spoolRetry = time.Second
)

// castagnoli makes the chunk checksum's table when a spool is first used:
// made at package init, its tables cost every start of tend, spool or not.
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// openSpool creates dir when missing, removes what a crash left half
// written, and returns the spool and the chunks an earlier run left in
// it, oldest first, each counted under the budget.
func openSpool(dir string, size int64, b *budget.Budget, log *zap.Logger) (*spool, []*batch, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("fluent: spool: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("fluent: spool: %w", err)
	}
	s := &spool{dir: dir, cap: size, budget: b, log: log}
	var left []*batch
	for _, e := range ents {
		name := e.Name()
		path := filepath.Join(dir, name)
		if strings.HasSuffix(name, ".chunk.tmp") {
			os.Remove(path)
			continue
		}
		hex, ok := strings.CutSuffix(name, ".chunk")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		seq, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			continue
		}
		bt, err := s.readHeader(path)
		if err != nil {
			log.Warn("fluentd spool: a chunk file cannot be read; deleted", zap.String("file", path), zap.Error(err))
			os.Remove(path)
			continue
		}
		bt.seq = seq
		left = append(left, bt)
	}
	// os.ReadDir sorts by name, and the names are the sequence numbers
	// in hex of one width: left is in the order the chunks were sealed.
	var records int64
	for _, bt := range left {
		if b != nil {
			bt.file.entry = b.Track(bt.key.program, bt.file.path, bt.file.size)
			if st, err := os.Stat(bt.file.path); err == nil {
				bt.file.entry.Retire(st.ModTime())
			} else {
				bt.file.entry.Retire(time.Now())
			}
		}
		s.files++
		s.entries += bt.entries
		s.bytes += bt.file.size
		records += bt.records
	}
	if len(left) > 0 {
		log.Info("fluentd spool: sending first the chunks an earlier run left", zap.String("spool", dir),
			zap.Int("chunks", len(left)), zap.Int64("records", records))
	}
	return s, left, nil
}

// name returns the path of the chunk file of seq.
func (s *spool) name(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016x.chunk", seq))
}

// write writes b's chunk to its file: counted under the budget first
// (which may delete older files, the spool's among them), then written
// whole under a temporary name and renamed. On error nothing is left.
func (s *spool) write(b *batch) (*spoolFile, error) {
	entries := b.ch.Entries()
	var hdr []byte
	for _, str := range []string{b.tag, b.key.program, b.key.stream} {
		hdr = binary.BigEndian.AppendUint32(hdr, uint32(len(str)))
		hdr = append(hdr, str...)
	}
	for _, n := range []int64{b.entries, b.records, b.raw, b.carried.Lines, b.carried.Bytes} {
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	hdr = binary.BigEndian.AppendUint32(hdr, crc32.Checksum(entries, castagnoli()))
	head := make([]byte, 0, len(spoolMagic)+4+len(hdr))
	head = append(head, spoolMagic...)
	head = binary.BigEndian.AppendUint32(head, uint32(len(hdr)))
	head = append(head, hdr...)

	path := s.name(b.seq)
	sf := &spoolFile{path: path, size: int64(len(head) + len(entries))}
	if s.budget != nil {
		sf.entry = s.budget.Track(b.key.program, path, 0)
		if err := sf.entry.Reserve(sf.size); err != nil {
			sf.entry.Forget()
			return nil, err
		}
	}
	err := writeFile(path+".tmp", head, entries)
	if err == nil {
		err = os.Rename(path+".tmp", path)
	}
	if err != nil {
		os.Remove(path + ".tmp")
		if sf.entry != nil {
			if errors.Is(err, syscall.ENOSPC) {
				sf.entry.NoSpace()
			}
			sf.entry.Forget()
		}
		return nil, fmt.Errorf("fluentd spool: %w", err)
	}
	if sf.entry != nil {
		sf.entry.Retire(time.Now())
	}
	return sf, nil
}

// writeFile creates path with head and body.
func writeFile(path string, head, body []byte) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = fh.Write(head)
	if err == nil {
		_, err = fh.Write(body)
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	return err
}

// readHeader reads a chunk file's header into a batch on disk.
func (s *spool) readHeader(path string) (*batch, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, min(st.Size(), 64<<10))
	if _, err := io.ReadFull(fh, buf); err != nil {
		return nil, err
	}
	b, _, _, err := parseChunkFile(buf, st.Size())
	if err != nil {
		return nil, err
	}
	b.file = &spoolFile{path: path, size: st.Size()}
	return b, nil
}

// load reads b's file into ch, checking it whole.
func (s *spool) load(b *batch, ch *forward.Chunk) error {
	data, err := os.ReadFile(b.file.path)
	if err != nil {
		return err
	}
	_, entries, sum, err := parseChunkFile(data, int64(len(data)))
	if err != nil {
		return err
	}
	if crc32.Checksum(entries, castagnoli()) != sum {
		return errors.New("the entries do not match their checksum")
	}
	ch.Reset(b.tag)
	if err := ch.AppendEntries(entries); err != nil {
		return err
	}
	if int64(ch.Len()) != b.entries {
		return fmt.Errorf("%d entries, the header says %d", ch.Len(), b.entries)
	}
	return nil
}

// remove deletes a chunk's file once the chunk is settled (or dropped).
func (s *spool) remove(sf *spoolFile) {
	if sf.entry != nil {
		sf.entry.Remove()
		return
	}
	os.Remove(sf.path)
}

// parseChunkFile parses a chunk file of size bytes whose first bytes are
// data: the batch its header describes, the entries (when data holds
// them) and their checksum.
func parseChunkFile(data []byte, size int64) (b *batch, entries []byte, sum uint32, err error) {
	if len(data) < len(spoolMagic)+4 || string(data[:len(spoolMagic)]) != spoolMagic {
		return nil, nil, 0, errors.New("not a chunk file")
	}
	n := int(binary.BigEndian.Uint32(data[len(spoolMagic):]))
	rest := data[len(spoolMagic)+4:]
	if n > len(rest) {
		return nil, nil, 0, errors.New("the header is cut short")
	}
	hdr := rest[:n]
	b = &batch{}
	var strs [3]string
	for i := range strs {
		if len(hdr) < 4 || uint64(len(hdr)-4) < uint64(binary.BigEndian.Uint32(hdr)) {
			return nil, nil, 0, errors.New("header: cut short")
		}
		l := binary.BigEndian.Uint32(hdr)
		strs[i], hdr = string(hdr[4:4+l]), hdr[4+l:]
	}
	b.tag, b.key.program, b.key.stream = strs[0], strs[1], strs[2]
	if len(hdr) != 5*8+4 {
		return nil, nil, 0, errors.New("header: wrong length")
	}
	for _, dst := range []*int64{&b.entries, &b.records, &b.raw, &b.carried.Lines, &b.carried.Bytes} {
		*dst, hdr = int64(binary.BigEndian.Uint64(hdr)), hdr[8:]
	}
	sum = binary.BigEndian.Uint32(hdr)
	body := rest[n:]
	b.size = size - int64(len(spoolMagic)+4+n)
	if int64(len(body)) == b.size {
		entries = body
	}
	if b.size < 0 || b.entries < 0 {
		return nil, nil, 0, errors.New("header: sizes out of range")
	}
	return b, entries, sum, nil
}

package logship_test

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"testing"

	"tend/budget"
	"tend/config"
	"tend/logship"
	"tend/logship/console"
	"tend/logship/internal/logtest"
	"tend/logship/logfile"
)

// The benchmarks push 120-byte lines from a real pipe through the
// pipeline; one op is one block of 1 MiB (8738 lines). Each runs once per
// writer (benchWriters): whole lines in 1 MiB writes, and the 64 KiB writes
// of a Go program's bufio.Writer, which end inside a line. Compare MB/s
// with the baselines of the same run and writer: BenchmarkBaselineFileWrite
// writes the block straight to a file, BenchmarkBaselinePipeToFile is `cat >
// file` (read from a pipe, write to a file). Files rotate at 64 MiB,
// keeping 2, in all of them.

const benchRotate = 64 << 20

func benchBlock() []byte {
	var b []byte
	for i := int64(0); len(b)+120 <= 1<<20; i++ {
		b = logtest.NumberedLine(b, i)
	}
	return b
}

// benchWriters are the ways a program hands its lines to the pipe: piece
// 0 writes each block whole, ending on a newline; otherwise a bufio.Writer
// of piece bytes writes them, in pieces of exactly that size that carry
// over from one block to the next, as bench/logsgen's writer of the same
// name does.
var benchWriters = []struct {
	name  string
	piece int
}{
	{"lines", 0},
	{"bufio64k", 64 << 10},
}

// writeBlocks writes the block b.N times to w the way writer piece does
// (see benchWriters), and what a bufio.Writer still holds at the end.
func writeBlocks(b *testing.B, w io.Writer, block []byte, piece int) {
	b.SetBytes(int64(len(block)))
	b.ReportAllocs()
	b.ResetTimer()
	if piece == 0 {
		for i := 0; i < b.N; i++ {
			if _, err := w.Write(block); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	// Fed a block at once, a bufio.Writer with nothing buffered would pass
	// it through in one write; fed in parts smaller than its buffer, it
	// writes full buffers, as it does for a program logging line by line.
	bw := bufio.NewWriterSize(w, piece)
	const part = 4 << 10
	for i := 0; i < b.N; i++ {
		for off := 0; off < len(block); off += part {
			if _, err := bw.Write(block[off:min(off+part, len(block))]); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
}

// eachWriter runs bench once per writer of benchWriters.
func eachWriter(b *testing.B, bench func(b *testing.B, piece int)) {
	for _, w := range benchWriters {
		b.Run(w.name, func(b *testing.B) { bench(b, w.piece) })
	}
}

// benchPipeline writes b.N blocks into a pipe captured by a pipeline
// with a console sink writing to stdout (when set) and a file sink (when
// cfg.Dir is set), the way writer piece does.
func benchPipeline(b *testing.B, cfg config.Log, stdout io.Writer, piece int) {
	block := benchBlock()
	var sinks []logship.Sink
	if stdout != nil {
		c, err := console.New(cfg, stdout, stdout, nil)
		if err != nil {
			b.Fatal(err)
		}
		sinks = append(sinks, c)
	}
	disk := budget.New(budget.Options{Limit: cfg.DiskBudget})
	if cfg.Dir != "" {
		f, err := logfile.New(cfg, disk, nil)
		if err != nil {
			b.Fatal(err)
		}
		sinks = append(sinks, f)
	}
	s, err := logship.New(cfg, logship.Options{Budget: disk}, sinks...)
	if err != nil {
		b.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	c := s.CaptureSource(logship.Source{Program: "main"}, logship.Stdout, r)
	writeBlocks(b, w, block, piece)
	w.Close()
	<-c.Done()
	if err := s.Close(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(len(block)/120), "lines/op")
}

func BenchmarkRawToFile(b *testing.B) {
	eachWriter(b, func(b *testing.B, piece int) {
		cfg := logtest.Log(b.TempDir())
		cfg.FileSize, cfg.FileCount = benchRotate, 2
		benchPipeline(b, cfg, nil, piece)
	})
}

func BenchmarkRawToFileAndConsole(b *testing.B) {
	eachWriter(b, func(b *testing.B, piece int) {
		cfg := logtest.Log(b.TempDir())
		cfg.FileSize, cfg.FileCount = benchRotate, 2
		benchPipeline(b, cfg, io.Discard, piece)
	})
}

func BenchmarkJSONToConsole(b *testing.B) {
	eachWriter(b, func(b *testing.B, piece int) {
		cfg := logtest.Log("")
		cfg.Format = config.FormatJSON
		benchPipeline(b, cfg, io.Discard, piece)
	})
}

func BenchmarkJSONToFile(b *testing.B) {
	eachWriter(b, func(b *testing.B, piece int) {
		cfg := logtest.Log(b.TempDir())
		cfg.Format = config.FormatJSON
		cfg.FileSize, cfg.FileCount = benchRotate, 2
		benchPipeline(b, cfg, nil, piece)
	})
}

// rotatingFile is the baselines' file: it starts over every benchRotate
// bytes, as the pipeline's files rotate.
type rotatingFile struct {
	f    *os.File
	size int
}

func (rf *rotatingFile) Write(p []byte) (int, error) {
	if rf.size+len(p) > benchRotate {
		rf.f.Truncate(0)
		rf.f.Seek(0, io.SeekStart)
		rf.size = 0
	}
	rf.size += len(p)
	return rf.f.Write(p)
}

func baselineFile(b *testing.B) *rotatingFile {
	f, err := os.Create(filepath.Join(b.TempDir(), "direct.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return &rotatingFile{f: f}
}

func BenchmarkBaselineFileWrite(b *testing.B) {
	eachWriter(b, func(b *testing.B, piece int) {
		rf := baselineFile(b)
		writeBlocks(b, rf, benchBlock(), piece)
		rf.f.Sync()
	})
}

func BenchmarkBaselinePipeToFile(b *testing.B) {
	eachWriter(b, baselinePipeToFile)
}

// baselinePipeToFile is `cat > file` for writer piece.
func baselinePipeToFile(b *testing.B, piece int) {
	block := benchBlock()
	rf := baselineFile(b)
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := r.Read(buf)
			rf.Write(buf[:n])
			if err != nil {
				break
			}
		}
		close(done)
	}()
	writeBlocks(b, w, block, piece)
	w.Close()
	<-done
	rf.f.Sync()
}

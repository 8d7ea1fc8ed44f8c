package logship_test

import (
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
// pipeline; one op is one block of 1 MiB (8738 lines). Compare MB/s with
// the baselines of the same run: BenchmarkBaselineFileWrite writes the
// block straight to a file, BenchmarkBaselinePipeToFile is `cat > file`
// (read from a pipe, write to a file). Files rotate at 64 MiB, keeping 2,
// in all of them.

const benchRotate = 64 << 20

func benchBlock() []byte {
	var b []byte
	for i := int64(0); len(b)+120 <= 1<<20; i++ {
		b = logtest.NumberedLine(b, i)
	}
	return b
}

// benchPipeline writes b.N blocks into a pipe captured by a pipeline
// with a console sink writing to stdout (when set) and a file sink (when
// cfg.Dir is set).
func benchPipeline(b *testing.B, cfg config.Log, stdout io.Writer) {
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
	b.SetBytes(int64(len(block)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := w.Write(block); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	<-c.Done()
	if err := s.Close(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(len(block)/120), "lines/op")
}

func BenchmarkRawToFile(b *testing.B) {
	cfg := logtest.Log(b.TempDir())
	cfg.FileSize, cfg.FileCount = benchRotate, 2
	benchPipeline(b, cfg, nil)
}

func BenchmarkRawToFileAndConsole(b *testing.B) {
	cfg := logtest.Log(b.TempDir())
	cfg.FileSize, cfg.FileCount = benchRotate, 2
	benchPipeline(b, cfg, io.Discard)
}

func BenchmarkJSONToConsole(b *testing.B) {
	cfg := logtest.Log("")
	cfg.Format = config.FormatJSON
	benchPipeline(b, cfg, io.Discard)
}

func BenchmarkJSONToFile(b *testing.B) {
	cfg := logtest.Log(b.TempDir())
	cfg.Format = config.FormatJSON
	cfg.FileSize, cfg.FileCount = benchRotate, 2
	benchPipeline(b, cfg, nil)
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
	block := benchBlock()
	rf := baselineFile(b)
	b.SetBytes(int64(len(block)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := rf.Write(block); err != nil {
			b.Fatal(err)
		}
	}
	rf.f.Sync()
}

func BenchmarkBaselinePipeToFile(b *testing.B) {
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
	b.SetBytes(int64(len(block)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Write(block)
	}
	w.Close()
	<-done
	rf.f.Sync()
}

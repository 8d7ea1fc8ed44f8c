// Package logship is tend's log pipeline: it captures every program's
// stdout and stderr and ships them to tend's own console and to rotated
// files kept under a disk budget.
//
// # The pipeline
//
// Bytes flow one way, and each stage says where they can wait and where
// they can be dropped:
//
//	pipe -> Capture (64 KiB reads)
//	     -> framer (lines, pieces of long lines, optional Java joining)
//	     -> batch (the bytes of one or more reads and their records; shared, never copied per sink)
//	     -> each sink's own queue, bounded in bytes  [waits here, or drops here in non-blocking mode]
//	     -> console sink: rate limit per program      [drops here, with a marker]
//	        file sink: disk budget, min free, ENOSPC  [drops here, with a marker]
//	        Fluentd sink: a ring of records copied at dispatch, never waited for
//	                      [drops here when full, counted; sent by one goroutine]
//
// Beside it, the watcher (watch.go) keeps the files the programs write
// themselves under the same disk budget, and the tailer (tail.go) feeds
// their new lines into the pipeline as records of stream File, which go to
// the console and Fluentd but never to tend's own files. fluent.go says why
// the Fluentd client runs in sync mode; docs/watch-and-fluentd.md says
// what is guaranteed.
//
// Nothing is allocated per line: a record is a pair of offsets into its
// batch, batches are pooled, and raw output is written straight from the
// bytes that were read.
//
// # What is guaranteed
//
// Loss. Every byte read from a pipe is handed to every sink, unless one of
// these drops it, and each drop is counted in Stats and announced by one
// marker line when output resumes:
//   - the console rate limit (Source.Rate) drops whole records and writes
//     "suppressed N lines (M bytes) from NAME" once a second while it drops
//     (one second after the first line it dropped, even if the program went
//     quiet, and at Close);
//   - a file write that would pass the disk budget when no rotated file is
//     left to delete, or leave less than MinFree on the filesystem, or that
//     fails (ENOSPC, EIO) is dropped whole; the next write that succeeds
//     starts with "dropped N lines (M bytes) from NAME (reasons)";
//   - in non-blocking mode, a batch that does not fit in a sink's queue is
//     dropped for that sink, with the same marker in that sink.
//
// On stop, Close reads every pipe to EOF, hands everything to the sinks,
// and flushes and fsyncs them, within the context it is given. When a
// grandchild holds a pipe open past the deadline, what was read is kept
// and the pipe is closed; when the sinks cannot flush before the context
// is done, what is still queued is counted as dropped.
//
// Blocking. In blocking mode (the default) a sink that cannot keep up fills
// its queue, the capture waits, the pipe fills, and the program's write
// blocks: the program slows down and nothing is lost, as with Docker's
// blocking mode. In non-blocking mode nothing waits on a sink: the program
// is never slowed, and the excess is dropped and counted. A full disk never
// blocks in either mode: writes are refused, not retried.
//
// Memory. Each sink holds at most Buffer bytes of queued batches (the
// default 1 MiB), plus the batch it is writing; each capture holds one
// buffer of 64 KiB plus the line being read (at most MaxLine) and, with
// Java joining, the record being joined (at most max(MaxLine, 64 KiB)).
//
// Disk. When Dir is set, the bytes of all files tend writes (the live and
// rotated files of every program, and compressed copies while they are
// written) never pass DiskBudget: before each write the budget deletes the
// oldest rotated files across all programs until the write fits, and
// refuses it when none is left. Free space on the log filesystem is
// measured with statfs at most every 100 ms (every 10 ms while writing
// fast) and estimated in between; a write that would leave less than
// MinFree deletes rotated files on that filesystem first, then is refused.
// After ENOSPC, writes are refused without touching the disk until the next
// measure shows room, so a full disk never makes tend spin. Other components
// register the files they watch with the same Budget.
//
// Ordering. Records of one stream keep their order in every sink. Records
// of a program's two streams are interleaved in the order they were read.
// Two programs' bytes never mix inside a line on the console; a line longer
// than MaxLine travels in pieces, and another program's line may come
// between them.
//
// # Formats
//
// The console writes a program's stdout to tend's stdout and its stderr to
// tend's stderr, in one of three formats:
//   - raw: the program's bytes, byte-exact. The only byte tend ever adds is
//     a newline before another program's output when the last output on
//     that stream did not end a line. Marker lines are plain text on stdout.
//   - prefix: "NAME | line" for every line (every line of a joined stack
//     trace too); a piece of a long line is a line of its own.
//   - json: one object per line, such as
//     {"time":"2026-01-02T15:04:05.123456789Z","program":"main","stream":"stderr","message":"...","partial":true}
//     where time is RFC 3339 in UTC with nanoseconds (trailing zeros
//     trimmed), "partial" appears only on pieces of a line longer than
//     MaxLine, and tend's marker lines carry "tend":true. Invalid UTF-8
//     becomes U+FFFD; a record is never dropped for its bytes.
//
// Files (<Dir>/<program>.log, rotated to <program>.log.1 ... with ".gz"
// when compressed) hold the JSON objects when the format is json, and the
// program's raw bytes otherwise; one file per program holds both streams,
// in the order they were read (only json tells them apart).
package logship

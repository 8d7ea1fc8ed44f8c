// Package logship is tend's log pipeline: it captures every program's
// stdout and stderr, frames them into records, and hands every batch of
// records to every sink through one interface (Sink). The sinks are
// packages of their own: logship/console (tend's stdout and stderr),
// logship/logfile (rotated files under the disk budget of package budget)
// and logship/fluent (Fluentd); cmd/tend wires them. The files programs
// write themselves are watched, capped and tailed by package watch, an
// Input of the pipeline.
//
// # The pipeline
//
// Bytes flow one way, and each stage says where they can wait and where
// they can be dropped:
//
//	pipe (grown to 1 MiB) -> Capture (reads of 64 KiB to 1 MiB; a short wait before the next read when a program writes small pieces fast)
//	     -> Framer (lines, pieces of long lines, optional Java joining)
//	     -> Batch (the bytes of one or more reads and their records; shared, never copied per sink)
//	     -> Sink.Push, for each sink:
//	        its own Queue, bounded in bytes              [waits here, or drops here in non-blocking mode;
//	                                                      in blocking mode an idle sink is written by the pusher]
//	        console: rate limit per program              [drops here, with a marker]
//	        files: disk budget, min free, ENOSPC         [drops here, with a marker]
//	        Fluentd: chunks copied at Push, then a spool on disk
//	                                                     [waits here while the receiver takes records (blocking),
//	                                                      drops here when both are full and it does not; counted]
//
// Records tailed from watched files (stream File) go to the console and
// Fluentd but never to tend's own files.
//
// Nothing is allocated per line: a Record is a pair of offsets into its
// Batch, batches are pooled and reference-counted (each sink that keeps a
// batch holds a reference), and raw output is written straight from the
// bytes that were read.
//
// # What is guaranteed
//
// Loss. Every byte read from a pipe is handed to every sink, unless one of
// these drops it, and each drop is counted in Stats (Counters, by Reason)
// and announced by one marker line when output resumes:
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
// The Fluentd sink drops what fits neither in its buffer nor in its spool
// while the receiver is down (package logship/fluent says when it waits
// instead), counts it, and sends a marker record once the receiver is back.
//
// On stop, Close reads every pipe to EOF, hands everything to the sinks,
// and lets them flush and fsync, concurrently, within the context it is
// given. When a grandchild holds a pipe open after its program stopped,
// the pipe is waited for at most Options.PipeWait (and never into the
// flush reserve); what was read is kept, and an event names the program,
// the stream and the processes holding the pipe. When the sinks cannot
// flush before the context is done, what is still queued is counted as
// dropped.
//
// Blocking. In blocking mode (the default) a sink that cannot keep up fills
// its queue, the capture waits, the pipe fills, and the program's write
// blocks: the program slows down and nothing is lost, as with Docker's
// blocking mode. In non-blocking mode nothing waits on a sink: the program
// is never slowed, and the excess is dropped and counted. A full disk never
// blocks in either mode: writes are refused, not retried.
//
// Memory. Each queue holds at most Buffer bytes of batches (the default
// 1 MiB; the file sink has one queue per program), plus the batch being
// written; the Fluentd sink at most TEND_FLUENT_BUFFER bytes of encoded
// records; each capture holds one
// read buffer of 64 KiB to 1 MiB (MaxReadSize; in non-blocking mode at most
// a quarter of Buffer) plus the line being read (at most MaxLine) and, with
// Java joining, the record being joined (at most max(MaxLine, 64 KiB)).
// The kernel holds up to 1 MiB more in each pipe.
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
// measure shows room, so a full disk never makes tend spin. The watcher
// registers the files it watches with the same budget.
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

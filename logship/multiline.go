package logship

import "bytes"

// joinLimit is the least size limit of a joined record; MaxLine raises it.
// A deep Spring stack trace is 10 to 30 KiB; past the limit the next line
// starts a new record.
const joinLimit = 64 << 10

// javaContinuation reports whether a line continues the record before it in
// a Java stack trace:
//
//	\tat com.example.Foo.bar(Foo.java:42)
//	\t... 12 more
//	Caused by: java.io.IOException: boom
//	\tSuppressed: java.lang.IllegalStateException
//
// and any other line that starts with a space or a tab (indented
// continuation, as JVM and logback print them).
func javaContinuation(line []byte) bool {
	if len(line) == 0 {
		return false
	}
	if line[0] == ' ' || line[0] == '\t' {
		return true
	}
	return bytes.HasPrefix(line, []byte("Caused by:")) ||
		bytes.HasPrefix(line, []byte("Suppressed:"))
}

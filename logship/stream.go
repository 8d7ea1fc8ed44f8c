package logship

// Stream identifies a program's output stream.
type Stream uint8

// The two output streams of a program, and the files it writes itself.
const (
	Stdout Stream = 1
	Stderr Stream = 2
	// File marks records tailed from a watched file (TEND_LOG_TAIL). They
	// go to the console (on tend's stdout) and to Fluentd, never to tend's
	// own files, which would only hold a second copy of the program's file.
	File Stream = 3
)

// String returns "stdout", "stderr" or "file".
func (s Stream) String() string {
	switch s {
	case Stdout:
		return "stdout"
	case Stderr:
		return "stderr"
	case File:
		return "file"
	}
	return "stream?"
}

// streamOf maps the supervisor's stream names to a Stream: "stderr" is
// Stderr, anything else Stdout.
func streamOf(name string) Stream {
	if name == "stderr" {
		return Stderr
	}
	return Stdout
}

package config

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// iniSection is one [name] section of a supervisord-style INI file.
type iniSection struct {
	Name    string
	Line    int
	Entries []iniEntry
}

// iniEntry is one key = value line, with the line it started on.
type iniEntry struct {
	Key   string
	Value string
	Line  int
}

// iniSyntaxError is a line the INI reader cannot read.
type iniSyntaxError struct {
	Line    int
	Text    string
	Problem string
}

func (e *iniSyntaxError) Error() string {
	return fmt.Sprintf("line %d: %s: %q", e.Line, e.Problem, e.Text)
}

// parseINI reads the INI dialect supervisord accepts: [section] headers,
// "key = value" or "key: value" lines, full-line comments starting with ';'
// or '#', inline comments after " ;" or " #", and continuation lines:
// lines indented deeper than the key they continue. Keys are lower-cased,
// as Python's ConfigParser does.
func parseINI(r io.Reader) ([]iniSection, error) {
	var (
		sections []iniSection
		cur      *iniSection
		lineNo   int
		// keyIndent is the indentation of the last key line; only a
		// deeper line continues its value (keys may be indented).
		keyIndent int
	)
	lines := newLineReader(r)
	for {
		raw, err := lines.next()
		if err == io.EOF {
			break
		}
		lineNo++
		if err != nil {
			return nil, &iniSyntaxError{lineNo, raw, err.Error()}
		}
		if lineNo == 1 {
			raw = strings.TrimPrefix(raw, "\ufeff")
		}
		trimmed := strings.TrimSpace(raw)
		if trimmed == "" || trimmed[0] == ';' || trimmed[0] == '#' {
			continue
		}
		indent := len(raw) - len(strings.TrimLeft(raw, " \t"))
		if indent > keyIndent && cur != nil && len(cur.Entries) > 0 {
			e := &cur.Entries[len(cur.Entries)-1]
			e.Value = strings.TrimSpace(e.Value + "\n" + stripInlineComment(trimmed))
			continue
		}
		if trimmed[0] == '[' {
			end := strings.IndexByte(trimmed, ']')
			if end < 0 {
				return nil, &iniSyntaxError{lineNo, raw, "section header without ]"}
			}
			name := strings.TrimSpace(trimmed[1:end])
			if name == "" {
				return nil, &iniSyntaxError{lineNo, raw, "empty section name"}
			}
			sections = append(sections, iniSection{Name: name, Line: lineNo})
			cur = &sections[len(sections)-1]
			continue
		}
		if cur == nil {
			return nil, &iniSyntaxError{lineNo, raw, "key outside of any [section]"}
		}
		sep := strings.IndexAny(trimmed, "=:")
		if sep <= 0 {
			return nil, &iniSyntaxError{lineNo, raw, "expected key = value"}
		}
		key := strings.ToLower(strings.TrimSpace(trimmed[:sep]))
		val := stripInlineComment(trimmed[sep+1:])
		cur.Entries = append(cur.Entries, iniEntry{Key: key, Value: val, Line: lineNo})
		keyIndent = indent
	}
	return sections, nil
}

// MaxConfLine bounds one line of a conf.d file.
const MaxConfLine = 1 << 20

// lineReader reads lines of at most MaxConfLine bytes, without their "\n"
// or "\r\n".
type lineReader struct {
	r *bufio.Reader
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next line, or io.EOF after the last. A line longer
// than MaxConfLine is an error that shows the line's start; the rest of
// the line is not kept in memory.
func (l *lineReader) next() (string, error) {
	var line []byte
	for {
		chunk, err := l.r.ReadSlice('\n')
		line = append(line, chunk...)
		if n := len(bytes.TrimSuffix(line, []byte("\n"))); n > MaxConfLine {
			return string(line[:64]) + "...", fmt.Errorf("line longer than the limit of %s", FormatSize(MaxConfLine))
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(line) == 0:
			return "", io.EOF
		case err != nil && err != io.EOF:
			return "", err
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		return string(line), nil
	}
}

// stripInlineComment removes an inline comment, a ';' or '#' after
// whitespace, as supervisord on Python 3 does (so "a=b;c" keeps its ';'),
// and trims the rest.
func stripInlineComment(s string) string {
	for i := 1; i < len(s); i++ {
		if (s[i] == ';' || s[i] == '#') && (s[i-1] == ' ' || s[i-1] == '\t') {
			return strings.TrimSpace(s[:i])
		}
	}
	return strings.TrimSpace(s)
}

// expand replaces supervisord's %(ENV_X)s, %(program_name)s, %(here)s and
// %(process_num)d references, and %% with a single %.
func expand(v string, vars map[string]string) (string, error) {
	if !strings.Contains(v, "%") {
		return v, nil
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			b.WriteByte(v[i])
			continue
		}
		if i+1 < len(v) && v[i+1] == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		if i+1 >= len(v) || v[i+1] != '(' {
			return "", fmt.Errorf("stray %% at offset %d (write %%%% for a literal %%)", i)
		}
		end := strings.IndexByte(v[i:], ')')
		if end < 0 || i+end+1 >= len(v) {
			return "", fmt.Errorf("unterminated %%( reference")
		}
		name := v[i+2 : i+end]
		conv := v[i+end+1]
		if conv != 's' && conv != 'd' {
			return "", fmt.Errorf("%%(%s) must end in s or d", name)
		}
		val, ok := vars[name]
		if !ok {
			if strings.HasPrefix(name, "ENV_") {
				return "", fmt.Errorf("environment variable %s is not set", strings.TrimPrefix(name, "ENV_"))
			}
			return "", fmt.Errorf("unknown reference %%(%s)%c", name, conv)
		}
		b.WriteString(val)
		i += end + 1
	}
	return b.String(), nil
}

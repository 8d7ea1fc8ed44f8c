package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// entries flattens sections into "section.key=value@line" strings.
func entries(secs []iniSection) []string {
	var out []string
	for _, s := range secs {
		for _, e := range s.Entries {
			out = append(out, s.Name+"."+e.Key+"="+e.Value+"@"+strconv.Itoa(e.Line))
		}
	}
	return out
}

func TestINIReadsSupervisordDialect(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"equals and colon", "[program:a]\ncommand = sleep 1\npriority: 5\n",
			[]string{"program:a.command=sleep 1@2", "program:a.priority=5@3"}},
		{"keys are lower-cased, values kept", "[program:a]\nCommand = Sleep 1\n",
			[]string{"program:a.command=Sleep 1@2"}},
		{"full-line comments", "; header\n# another\n[program:a]\n  ; indented comment\ncommand = x\n",
			[]string{"program:a.command=x@5"}},
		{"inline comment after space-semicolon", "[program:a]\ncommand = sleep 1 ; the agent\n",
			[]string{"program:a.command=sleep 1@2"}},
		{"inline comment after tab-semicolon", "[program:a]\ncommand = sleep 1\t; the agent\n",
			[]string{"program:a.command=sleep 1@2"}},
		{"semicolon without space is kept", "[program:a]\ncommand = echo a;b\n",
			[]string{"program:a.command=echo a;b@2"}},
		{"inline comment after space-hash", "[program:a]\ncommand = sleep 1 # the agent ; really\n",
			[]string{"program:a.command=sleep 1@2"}},
		{"hash without space is kept", "[program:a]\nready = http://localhost/#top\n",
			[]string{"program:a.ready=http://localhost/#top@2"}},
		{"value that is only a comment", "[program:a]\nenvironment = ; none\ncommand=;x\n",
			[]string{"program:a.environment=@2", "program:a.command=;x@3"}},
		{"indented keys", "[program:a]\n  command = sleep\n  priority = 5\n",
			[]string{"program:a.command=sleep@2", "program:a.priority=5@3"}},
		{"continuation deeper than an indented key", "[program:a]\n  command = sleep\n      100\n  priority = 5\n",
			[]string{"program:a.command=sleep\n100@2", "program:a.priority=5@4"}},
		{"less indented line is a key", "[program:a]\n    command = sleep\n  priority = 5\n",
			[]string{"program:a.command=sleep@2", "program:a.priority=5@3"}},
		{"first separator splits", "[program:a]\nready = http://localhost:8080/x=y\n",
			[]string{"program:a.ready=http://localhost:8080/x=y@2"}},
		{"empty value", "[program:a]\nenvironment =\n",
			[]string{"program:a.environment=@2"}},
		{"continuation lines", "[program:a]\ncommand = sleep\n  100 ; comment\n\tmore\npriority = 1\n",
			[]string{"program:a.command=sleep\n100\nmore@2", "program:a.priority=1@5"}},
		{"comment inside a continued value", "[program:a]\nenvironment = A=1,\n  ; not part of it\n  B=2\n",
			[]string{"program:a.environment=A=1,\nB=2@2"}},
		{"byte order mark", "\ufeff[program:a]\ncommand = x\n",
			[]string{"program:a.command=x@2"}},
		{"CRLF line ends", "[program:a]\r\ncommand = x\r\npriority = 2\r\n",
			[]string{"program:a.command=x@2", "program:a.priority=2@3"}},
		{"no newline at the end", "[program:a]\ncommand = x",
			[]string{"program:a.command=x@2"}},
		{"several sections", "[supervisord]\nnodaemon=true\n[program:a]\ncommand=x\n",
			[]string{"supervisord.nodaemon=true@2", "program:a.command=x@4"}},
		{"section header with comment", "[program:a] ; the agent\ncommand=x\n",
			[]string{"program:a.command=x@2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secs, err := parseINI(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := entries(secs); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestINISectionsRecordTheirLine(t *testing.T) {
	secs, err := parseINI(strings.NewReader("; c\n\n[program:a]\ncommand=x\n\n[program:b]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(secs) != 2 || secs[0].Line != 3 || secs[1].Line != 6 || secs[1].Name != "program:b" {
		t.Fatalf("sections = %+v", secs)
	}
}

func TestINISyntaxErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		line    int
		problem string
	}{
		{"key before any section", "; c\n\ncommand = x\n", 3, "outside of any [section]"},
		{"unclosed header", "[program:a]\ncommand=x\n[program:b\n", 3, "without ]"},
		{"empty header", "[program:a]\ncommand=x\n\n[ ]\n", 4, "empty section name"},
		{"line without separator", "[program:a]\ncommand=x\nautostart\n", 3, "expected key = value"},
		{"line starting with separator", "[program:a]\n= x\n", 2, "expected key = value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseINI(strings.NewReader(tc.in))
			var se *iniSyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a syntax error", err)
			}
			if se.Line != tc.line || !strings.Contains(se.Problem, tc.problem) {
				t.Errorf("got line %d %q, want line %d %q", se.Line, se.Problem, tc.line, tc.problem)
			}
		})
	}
}

func TestExpandSupervisordReferences(t *testing.T) {
	vars := map[string]string{
		"ENV_HOME":     "/home/app",
		"ENV_EMPTY":    "",
		"program_name": "agent",
		"here":         "/etc/tend/conf.d",
		"process_num":  "0",
	}
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"%(ENV_HOME)s/bin", "/home/app/bin"},
		{"x%(ENV_EMPTY)sy", "xy"},
		{"%(program_name)s.log", "agent.log"},
		{"%(here)s/agent.jar", "/etc/tend/conf.d/agent.jar"},
		{"n=%(process_num)d", "n=0"},
		{"date +%%s", "date +%s"},
		{"100%%", "100%"},
		{"%(ENV_HOME)s%(program_name)s", "/home/appagent"},
	} {
		got, err := expand(tc.in, vars)
		if err != nil || got != tc.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestExpandRejectsBadReferences(t *testing.T) {
	vars := map[string]string{"program_name": "agent"}
	for _, tc := range []struct{ in, problem string }{
		{"date +%s", "stray %"},
		{"50%", "stray %"},
		{"%(ENV_NOPE)s", "environment variable NOPE is not set"},
		{"%(nope)s", "unknown reference"},
		{"%(program_name)x", "must end in s or d"},
		{"%(program_name", "unterminated"},
		{"%(program_name)", "unterminated"},
	} {
		_, err := expand(tc.in, vars)
		if err == nil || !strings.Contains(err.Error(), tc.problem) {
			t.Errorf("expand(%q) error = %v, want %q", tc.in, err, tc.problem)
		}
	}
}

func TestEnvironmentKeyReadsSupervisordForm(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`A="1",B="2"`, []string{"A=1", "B=2"}},
		{`A=1,B=2`, []string{"A=1", "B=2"}},
		{`JAVA_OPTS="-Xmx1g -Da=b,c",MODE='x, y'`, []string{"JAVA_OPTS=-Xmx1g -Da=b,c", "MODE=x, y"}},
		{` A = "1" , B=2 `, []string{"A=1", "B=2"}},
		{`A="",B=`, []string{"A=", "B="}},
		{`URL="http://h:1/p?q=1"`, []string{"URL=http://h:1/p?q=1"}},
		{`A='say "hi"'`, []string{`A=say "hi"`}},
		{"A=1,\nB=2", []string{"A=1", "B=2"}},
		{``, nil},
	} {
		got, err := parseEnvironment(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseEnvironment(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{`A`, `=1`, `A="1`, `A="1"B=2`, `"A"=1`, `A B=1`} {
		if got, err := parseEnvironment(bad); err == nil {
			t.Errorf("parseEnvironment(%q) = %q, want an error", bad, got)
		}
	}
}

func TestSplitCommandSplitsLikeAShell(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"sleep 100", []string{"sleep", "100"}},
		{"  java  -jar\tapp.jar\n", []string{"java", "-jar", "app.jar"}},
		{`sh -c 'echo "a b"; exit 3'`, []string{"sh", "-c", `echo "a b"; exit 3`}},
		{`echo "a \"b\" \$HOME \\ \n"`, []string{"echo", `a "b" $HOME \ \n`}},
		{`echo a\ b c\'d`, []string{"echo", "a b", "c'd"}},
		{`echo '' ""`, []string{"echo", "", ""}},
		{`a'b'"c"d`, []string{"abcd"}},
		{`echo $HOME *`, []string{"echo", "$HOME", "*"}},
		{"", nil},
	} {
		got, err := SplitCommand(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{`echo 'a`, `echo "a`, `echo a\`} {
		if got, err := SplitCommand(bad); err == nil {
			t.Errorf("SplitCommand(%q) = %q, want an error", bad, got)
		}
	}
}

func TestJoinCommandRoundTrips(t *testing.T) {
	for _, argv := range [][]string{
		{"sleep", "100"},
		{"sh", "-c", `echo "a b"; exit 3`},
		{"echo", "", "it's", `back\slash`, "$HOME", "`x`", "tab\there", "new\nline"},
		{"plain"},
	} {
		line := JoinCommand(argv)
		got, err := SplitCommand(line)
		if err != nil || !reflect.DeepEqual(got, argv) {
			t.Errorf("SplitCommand(JoinCommand(%q)) = SplitCommand(%q) = %q, %v", argv, line, got, err)
		}
	}
	if got := JoinCommand([]string{"java", "-jar", "app.jar"}); got != "java -jar app.jar" {
		t.Errorf("plain words are quoted: %q", got)
	}
}

func FuzzSplitCommand(f *testing.F) {
	for _, s := range []string{"sleep 100", `sh -c 'echo "a b"'`, `a\ b "c\"d" ''`, "x\x00y\x00", `'`, `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Whatever SplitCommand reads, JoinCommand writes back the same argv.
		if argv, err := SplitCommand(s); err == nil {
			line := JoinCommand(argv)
			again, err := SplitCommand(line)
			if err != nil || !reflect.DeepEqual(again, argv) {
				t.Fatalf("%q -> %q -> %q -> %q, %v", s, argv, line, again, err)
			}
		}
		// Any argv (here: s split at NUL bytes) survives JoinCommand.
		argv := strings.Split(s, "\x00")
		line := JoinCommand(argv)
		again, err := SplitCommand(line)
		if err != nil || !reflect.DeepEqual(again, argv) {
			t.Fatalf("%q -> %q -> %q, %v", argv, line, again, err)
		}
	})
}

func FuzzINI(f *testing.F) {
	for _, s := range []string{
		"[program:a]\ncommand = sleep 1 ; c\n  more\n",
		"\ufeff; c\n[x]\nk: v\n",
		"k = v\n",
		"[program:a\n",
		"[program:a]\r\n\tk=v\r\n",
		"[a]\n  k = 1\n  j = 2\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lines := strings.Count(s, "\n") + 1
		secs, err := parseINI(strings.NewReader(s))
		if err != nil {
			var se *iniSyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if se.Line < 1 || se.Line > lines {
				t.Fatalf("error at line %d of a %d-line input: %v", se.Line, lines, err)
			}
			return
		}
		last := 0
		for _, sec := range secs {
			if sec.Line < 1 || sec.Line > lines || sec.Line <= last {
				t.Fatalf("section %q at line %d (input has %d lines, previous at %d)", sec.Name, sec.Line, lines, last)
			}
			last = sec.Line
			for _, e := range sec.Entries {
				if e.Line < sec.Line || e.Line > lines {
					t.Fatalf("key %q at line %d, section at %d, input has %d lines", e.Key, e.Line, sec.Line, lines)
				}
				if e.Key == "" || e.Key != strings.ToLower(e.Key) {
					t.Fatalf("key %q is empty or not lower-case", e.Key)
				}
				if e.Value != strings.TrimSpace(e.Value) {
					t.Fatalf("value %q of %q is not trimmed", e.Value, e.Key)
				}
			}
		}
	})
}

// FuzzConfFile loads arbitrary conf.d files: Load never panics, and every
// error about the file names one of its lines.
func FuzzConfFile(f *testing.F) {
	for _, s := range []string{
		"[program:a]\ncommand = sleep 1\nready = tcp:80\ndepends_on = b\n[program:b]\ncommand = x\n",
		"[program:a]\ncommand = %(ENV_HOME)s/x %%\nenvironment = A=\"1,2\",B='x'\nstartsecs = 1.5\n",
		"[program:a]\nuser = nobody\nstopsignal = QUIT\nexitcodes = 0,2\nnumprocs = 2\n[supervisord]\n",
		"[program:a]\ncommand = 'x\n[program:a]\n",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	sock := socketPath(f)
	conf := filepath.Join(dir, "conf.d", "f.conf")
	if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := os.WriteFile(conf, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(Options{Env: []string{"TEND_CONFIG_DIR=" + dir, "TEND_SOCKET=" + sock, "HOME=/root"}, LookupUser: fakeUsers})
		var es Errors
		if err == nil {
			return
		}
		if !errors.As(err, &es) {
			t.Fatalf("error of type %T: %v", err, err)
		}
		lines := strings.Count(s, "\n") + 1
		for _, e := range es {
			rest, ok := strings.CutPrefix(e.Where, conf+":")
			if !ok {
				continue
			}
			if n, err := strconv.Atoi(rest); err != nil || n < 1 || n > lines {
				t.Fatalf("error at %s in a %d-line file: %v", e.Where, lines, e)
			}
		}
	})
}

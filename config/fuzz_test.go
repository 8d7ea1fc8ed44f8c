package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Fuzz targets for the parsers of settings and keys. Run one with, for
// example:
//
//	go test -run '^$' -fuzz '^FuzzSettingValue$' -fuzztime 30s ./config
//
// As plain tests they run their seed corpus only.

// fuzzLoad loads the environment env with an empty conf.d.
func fuzzLoad(t *testing.T, dir, sock string, env ...string) (*Config, error) {
	return Load(Options{
		Env:        append([]string{"TEND_CONFIG_DIR=" + dir, "TEND_SOCKET=" + sock}, env...),
		Args:       []string{"java"},
		LookupUser: fakeUsers,
	})
}

// FuzzSettingValue gives any value to any setting: Load never panics,
// every error names the variable, and a value it accepts is printed (as
// tend check prints it) in a form that Load reads back to the same value.
func FuzzSettingValue(f *testing.F) {
	settings := Settings()
	for i, s := range settings {
		f.Add(uint8(i), s.Default)
	}
	for _, v := range []string{"", " ", "0", "-1", "1GiB", "99999999999999999999", "1e9", "true", "x\x00y", "10s", "/tmp/x",
		"143:0,143:1", "a:b", "PUT http://x/y {}", "unix:///x", "tend.{program}.{x}", ":0", "auto,/var/log/*.log", "[", "10MB/s"} {
		for i := range settings {
			f.Add(uint8(i), v)
		}
	}
	dir, sock := f.TempDir(), socketPath(f)
	f.Fuzz(func(t *testing.T, i uint8, v string) {
		s := settings[int(i)%len(settings)]
		if s.Name == "CONFIG_DIR" || s.Name == "SOCKET" || s.Name == "LOG_DIR" {
			// Paths on this machine: covered by their own tests.
			return
		}
		c, err := fuzzLoad(t, dir, sock, s.Var()+"="+v)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("%s=%q: error of type %T: %v", s.Var(), v, err, err)
			}
			for _, e := range es {
				if e.Where != s.Var() {
					t.Fatalf("%s=%q: an error names %q instead: %v", s.Var(), v, e.Where, e)
				}
			}
			return
		}
		shown := s.Value(c)
		again, err := fuzzLoad(t, dir, sock, s.Var()+"="+shown)
		if s.Default == "" && shown == "" && !s.AllowEmpty {
			return // unset: nothing to give back
		}
		if err != nil {
			t.Fatalf("%s=%q is shown as %q, which is refused: %v", s.Var(), v, shown, err)
		}
		if back := s.Value(again); back != shown {
			t.Fatalf("%s=%q is shown as %q, read back as %q", s.Var(), v, shown, back)
		}
	})
}

// FuzzExitCodeMap: what setExitMap accepts, formatExitMap prints in a form
// it reads back to the same map; no code is mapped twice.
func FuzzExitCodeMap(f *testing.F) {
	for _, s := range []string{"143:0", "143:0,130:0", "143:0,143:1", " 1 : 2 ,,", "256:0", "-1:0", "0:0,", "a:b", "1:2:3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var m map[int]int
		if err := setExitMap(&m, s); err != nil {
			return
		}
		for from, to := range m {
			if from < 0 || from > 255 || to < 0 || to > 255 {
				t.Fatalf("%q: %d:%d is out of range", s, from, to)
			}
		}
		var back map[int]int
		if err := setExitMap(&back, formatExitMap(m)); err != nil || !reflect.DeepEqual(back, m) {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, m, formatExitMap(m), back, err)
		}
	})
}

// FuzzReadyProbe: what setProbe accepts, formatProbe prints in a form it
// reads back to the same probe.
func FuzzReadyProbe(f *testing.F) {
	for _, s := range []string{"tcp:8080", "tcp:db:5432", "tcp:[::1]:80", "http://localhost:8080/ready", "https://x/y?z=1",
		"exec:curl -fsS http://x", "exec:", "tcp:", "tcp:x:0", "udp:53", "http://", "exec:'a b' c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var p Probe
		if err := setProbe(&p, s); err != nil {
			return
		}
		var back Probe
		if err := setProbe(&back, formatProbe(p)); err != nil || !reflect.DeepEqual(back, p) {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, p, formatProbe(p), back, err)
		}
	})
}

// FuzzEnvironmentKey: every entry parseEnvironment returns is KEY=value
// with a plain key, and the entries written back in the same form are
// read as the same entries.
func FuzzEnvironmentKey(f *testing.F) {
	for _, s := range []string{`A="1,2",B='x',C=plain`, `A=`, `=x`, `A="unterminated`, `A B=1`, `A=1 B=2`, `A='"',B="'"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		env, err := parseEnvironment(s)
		if err != nil {
			return
		}
		var parts []string
		for _, kv := range env {
			key, val, ok := strings.Cut(kv, "=")
			if !ok || key == "" || strings.ContainsAny(key, " \t,\"'") {
				t.Fatalf("%q gave the entry %q", s, kv)
			}
			switch {
			case !strings.Contains(val, `"`):
				parts = append(parts, key+`="`+val+`"`)
			case !strings.Contains(val, `'`):
				parts = append(parts, key+`='`+val+`'`)
			default:
				return // no quote can hold this value
			}
		}
		back, err := parseEnvironment(strings.Join(parts, ","))
		if err != nil || !reflect.DeepEqual(back, env) {
			t.Fatalf("%q -> %q -> %q -> %q, %v", s, env, strings.Join(parts, ","), back, err)
		}
	})
}

// FuzzProgramVariable gives any TEND_ variable name: Load never panics,
// every error names the variable, and a suggestion, when there is one, is
// a variable tend knows.
func FuzzProgramVariable(f *testing.F) {
	for _, s := range []string{"FOO_BAR_COMMAND", "AGENT_COMMAND", "AGNET_USER", "MAIN_AUTORESTRT", "STOP_TIMEOT", "LOG_COMMAND",
		"A_B_C_D", "_", "MAIN_", "X", strings.Repeat("A", 70) + "_COMMAND", "AGENT_STDOUT_LOGFILE", "MIAN_USER"} {
		f.Add(s)
	}
	dir, sock := f.TempDir(), socketPath(f)
	f.Fuzz(func(t *testing.T, name string) {
		if strings.ContainsAny(name, "=\x00") {
			return // not a variable name
		}
		_, err := fuzzLoad(t, dir, sock, "TEND_AGENT_COMMAND=sleep 1", Prefix+name+"=1")
		if err == nil {
			return
		}
		var es Errors
		if !errors.As(err, &es) {
			t.Fatalf("%s: error of type %T: %v", name, err, err)
		}
		known := map[string]bool{}
		for _, s := range Settings() {
			known[s.Var()] = true
		}
		for _, prog := range []string{"MAIN", "AGENT"} {
			for _, k := range ProgramKeys() {
				known[Prefix+prog+"_"+strings.ToUpper(k.Name)] = true
			}
		}
		for _, e := range es {
			if e.Where != Prefix+name && !strings.Contains(e.Where, "...") {
				t.Fatalf("%s: an error names %q: %v", name, e.Where, e)
			}
			if e.Suggest != "" && !known[e.Suggest] && !strings.HasSuffix(e.Suggest, "_COMMAND") {
				t.Fatalf("%s: suggests %s, which is no known variable", name, e.Suggest)
			}
		}
	})
}

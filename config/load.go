package config

import (
	"errors"
	"fmt"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Options says what Load needs beyond the environment.
type Options struct {
	// Env is the environment, as os.Environ returns it.
	Env []string
	// Args is the main program's argv from the command line (may be empty
	// when TEND_MAIN_COMMAND gives it, or when RequireMain is false).
	Args []string
	// RequireMain makes a missing main command an error.
	RequireMain bool
	// LookupUser resolves a user name or uid; nil uses the system's
	// user database.
	LookupUser func(name string) (*Credential, error)
}

// Load reads every TEND_ variable in opts.Env and every conf.d file, and
// returns the validated configuration. When anything is invalid it returns
// Errors listing every problem, each naming the variable or file:line, the
// value seen and the expected form.
func Load(opts Options) (*Config, error) {
	b := &builder{
		opts:     opts,
		keys:     ProgramKeys(),
		settings: Settings(),
		where:    map[string]map[string]string{},
		defined:  map[string]string{},
		given:    map[string]bool{},
	}
	b.reserved = reservedWords(b.settings)
	if b.opts.LookupUser == nil {
		b.opts.LookupUser = LookupUser
	}
	return b.load()
}

// builder holds the state of one Load.
type builder struct {
	opts     Options
	keys     []ProgramKey
	settings []Setting
	reserved map[string]bool // see reservedWords
	cfg      Config
	errs     Errors
	// programs holds side programs by name; defined says where each was
	// defined; where says where each key of each program was given
	// (valid or not).
	programs map[string]*Program
	defined  map[string]string
	where    map[string]map[string]string
	order    []string
	// given holds the settings the environment set (valid or not), by
	// name without the prefix.
	given map[string]bool
}

func (b *builder) load() (*Config, error) {
	c := &b.cfg
	for _, s := range b.settings {
		if s.Default != "" {
			if err := s.set(c, s.Default); err != nil {
				panic(fmt.Sprintf("default of %s: %v", s.Name, err))
			}
		}
	}
	b.programs = map[string]*Program{}
	env := environ(b.opts.Env)

	var programVars []string
	for _, name := range sortedKeys(env) {
		if !strings.HasPrefix(name, Prefix) {
			continue
		}
		if s, ok := b.setting(strings.TrimPrefix(name, Prefix)); ok {
			b.applySetting(s, name, env[name])
			continue
		}
		programVars = append(programVars, name)
	}
	if b.reserved[c.Main.Name] {
		b.fail(Prefix+"MAIN_NAME", c.Main.Name, "the main program's variables would read as the TEND_"+strings.ToUpper(c.Main.Name)+"_... settings",
			"a name that is not the first word of a global setting")
		// Go on with the default name, so that TEND_MAIN_<KEY> variables
		// are not reported as errors of their own.
		c.Main.Name = "main"
	}
	if !b.given["STOP_FLUSH_RESERVE"] {
		// The default must fit any valid budget: TEND_STOP_TIMEOUT=1s
		// alone is valid and keeps a tenth of it for the flush.
		c.Stop.FlushReserve = min(time.Second, c.Stop.Timeout/10)
	}
	b.checkPaths()
	b.checkFluent()

	main := newProgram(c.Main.Name, b.keys)
	main.AutoRestart = RestartNever
	main.Source = "command line"
	if len(b.opts.Args) > 0 {
		main.Command = b.opts.Args
	}
	b.where[c.Main.Name] = map[string]string{}

	b.readConfDir(env)
	// TEND_<NAME>_COMMAND alone defines a program, and the program's other
	// variables may sort before it (TEND_AGENT_AUTOSTART): define first.
	sort.SliceStable(programVars, func(i, j int) bool {
		return strings.HasSuffix(programVars[i], "_COMMAND") && !strings.HasSuffix(programVars[j], "_COMMAND")
	})
	for _, name := range programVars {
		b.applyProgramVar(name, env[name], &main)
	}
	b.finishMain(&main)
	c.Main = main
	for _, name := range b.order {
		c.Programs = append(c.Programs, *b.programs[name])
	}
	for i := range c.Programs {
		b.finishProgram(&c.Programs[i])
	}
	b.checkDependencies()
	sort.SliceStable(c.Programs, func(i, j int) bool {
		if c.Programs[i].Priority != c.Programs[j].Priority {
			return c.Programs[i].Priority < c.Programs[j].Priority
		}
		return c.Programs[i].Name < c.Programs[j].Name
	})
	if len(b.errs) == 0 {
		c.Programs = dependenciesFirst(c.Programs)
	}
	if c.Stop.FlushReserve >= c.Stop.Timeout {
		b.fail(Prefix+"STOP_FLUSH_RESERVE", c.Stop.FlushReserve.String(),
			"must be shorter than TEND_STOP_TIMEOUT ("+c.Stop.Timeout.String()+")", DurationForm)
	}
	b.warnDrainBudget()
	if len(b.errs) > 0 {
		return nil, b.errs
	}
	return c, nil
}

// warnDrainBudget warns when the drain phases ask for more than they can
// get: they share the stop budget with the main program, which always
// keeps at least half of that share for its own shutdown.
func (b *builder) warnDrainBudget() {
	st := b.cfg.Stop
	drain := st.DrainDelay
	if len(st.Prestop) > 0 || st.PrestopHTTP != nil {
		drain += st.PrestopTimeout
	}
	if limit := (st.Timeout - st.FlushReserve) / 2; drain > limit {
		b.cfg.Warnings = append(b.cfg.Warnings, fmt.Sprintf(
			"TEND_DRAIN_DELAY plus TEND_PRESTOP_TIMEOUT (%s) is more than the drain phases can get (%s, half of TEND_STOP_TIMEOUT less TEND_STOP_FLUSH_RESERVE): they will be cut short; raise TEND_STOP_TIMEOUT",
			drain, limit))
	}
}

func (b *builder) fail(where, value, problem, expected string) {
	b.errs.add(&Error{Where: where, Value: value, Problem: problem, Expected: expected})
}

func (b *builder) setting(name string) (Setting, bool) {
	for _, s := range b.settings {
		if s.Name == name {
			return s, true
		}
	}
	return Setting{}, false
}

func (b *builder) applySetting(s Setting, name, value string) {
	b.given[s.Name] = true
	if i := strings.IndexByte(value, 0); i >= 0 {
		b.fail(name, value, fmt.Sprintf("NUL byte at offset %d", i), s.Form)
		return
	}
	if strings.TrimSpace(value) == "" && !s.AllowEmpty {
		b.fail(name, value, "empty value", s.Form)
		return
	}
	if err := s.set(&b.cfg, value); err != nil {
		b.fail(name, value, err.Error(), s.Form)
	}
}

// reservedWords are the first words of global settings; a program may not
// be called by one, or its variables would read as settings.
func reservedWords(settings []Setting) map[string]bool {
	words := map[string]bool{}
	for _, s := range settings {
		first, _, _ := strings.Cut(s.Name, "_")
		words[strings.ToLower(first)] = true
	}
	delete(words, "main")
	return words
}

// readConfDir reads $TEND_CONFIG_DIR/conf.d/*.conf in lexical order.
func (b *builder) readConfDir(env map[string]string) {
	dir := filepath.Join(b.cfg.ConfigDir, "conf.d")
	files, err := filepath.Glob(filepath.Join(dir, "*.conf"))
	if err != nil {
		b.fail(Prefix+"CONFIG_DIR", b.cfg.ConfigDir, err.Error(), formPath)
		return
	}
	sort.Strings(files)
	for _, f := range files {
		b.readConfFile(f, env)
	}
}

func (b *builder) readConfFile(path string, env map[string]string) {
	fh, err := openRegular(path)
	if err != nil {
		b.errs.add(&Error{Where: path, Problem: err.Error(), Expected: "a regular file, or a symbolic link to one"})
		return
	}
	defer fh.Close()
	sections, err := parseINI(fh)
	if err != nil {
		var se *iniSyntaxError
		if errors.As(err, &se) {
			b.errs.add(&Error{Where: fmt.Sprintf("%s:%d", path, se.Line), Value: se.Text,
				Problem: se.Problem, Expected: "[program:NAME] headers and key = value lines"})
			return
		}
		b.errs.add(&Error{Where: path, Problem: err.Error()})
		return
	}
	vars := map[string]string{"here": filepath.Dir(path), "process_num": "0", "group_name": ""}
	for k, v := range env {
		vars["ENV_"+k] = v
	}
	for _, sec := range sections {
		at := fmt.Sprintf("%s:%d", path, sec.Line)
		kind, name, _ := strings.Cut(sec.Name, ":")
		if kind != "program" {
			b.cfg.Warnings = append(b.cfg.Warnings, fmt.Sprintf("%s: section [%s] is ignored (tend reads [program:NAME] sections only)", at, sec.Name))
			continue
		}
		p := b.defineProgram(name, at)
		if p == nil {
			continue
		}
		vars["program_name"] = name
		vars["group_name"] = name
		for _, e := range sec.Entries {
			eat := fmt.Sprintf("%s:%d", path, e.Line)
			val, err := expand(e.Value, vars)
			if err != nil {
				b.fail(eat, e.Value, err.Error(), "")
				b.where[p.Name][e.Key] = eat
				continue
			}
			b.setProgramKey(p, e.Key, val, eat, e.Key)
		}
	}
}

// defineProgram registers a program defined at where, or reports why it
// cannot be.
func (b *builder) defineProgram(name, where string) *Program {
	if !nameChars(name) {
		b.fail(where, name, "invalid program name", formName)
		return nil
	}
	if err := checkName(name); err != nil {
		b.fail(where, abbreviate(name), "invalid program name: "+err.Error(), formName)
		return nil
	}
	if b.reserved[name] {
		b.fail(where, name, "program name collides with the TEND_"+strings.ToUpper(name)+"_... settings", "a name that is not the first word of a global setting")
		return nil
	}
	if name == b.cfg.Main.Name {
		b.fail(where, name, "the main program is defined by the command line, not here", "another program name")
		return nil
	}
	if first, dup := b.defined[name]; dup {
		b.fail(where, name, "duplicate program, first defined at "+first, "one definition per program")
		return nil
	}
	p := newProgram(name, b.keys)
	p.Source = where
	b.programs[name] = &p
	b.defined[name] = where
	b.where[name] = map[string]string{}
	b.order = append(b.order, name)
	return &p
}

// setProgramKey sets key on p; where names the place for errors and
// display is the key as the user wrote it.
func (b *builder) setProgramKey(p *Program, key, value, where, display string) {
	if i := strings.IndexByte(value, 0); i >= 0 {
		// A NUL cannot reach a program: execve ends every string at it.
		b.where[p.Name][key] = where
		b.fail(where, value, fmt.Sprintf("NUL byte at offset %d", i), "text without NUL bytes")
		return
	}
	if reason, ok := ignoredKeys[key]; ok {
		b.cfg.Warnings = append(b.cfg.Warnings, fmt.Sprintf("%s: %s is not supported and is ignored (%s)", where, display, reason))
		return
	}
	for _, k := range b.keys {
		if k.Name != key {
			continue
		}
		b.where[p.Name][key] = where
		if err := k.set(p, value); err != nil {
			b.fail(where, value, err.Error(), k.Form)
		}
		return
	}
	names := make([]string, len(b.keys))
	for i, k := range b.keys {
		names[i] = k.Name
	}
	e := &Error{Where: where, Value: value, Problem: "unknown key " + display, Suggest: nearest(key, names)}
	if strings.HasPrefix(where, Prefix) && e.Suggest != "" {
		e.Suggest = Prefix + strings.ToUpper(p.Name+"_"+e.Suggest)
	}
	b.errs.add(e)
}

// applyProgramVar handles TEND_<NAME>_<KEY>.
func (b *builder) applyProgramVar(name, value string, main *Program) {
	rest := strings.TrimPrefix(name, Prefix)
	upper, key, ok := strings.Cut(rest, "_")
	prog := strings.ToLower(upper)
	key = strings.ToLower(key)
	if !ok || key == "" || !nameChars(prog) || strings.ToUpper(prog) != upper {
		b.unknownVar(name, value)
		return
	}
	if len(prog) > MaxNameLength {
		b.errs.add(&Error{Where: abbreviate(name), Value: value,
			Problem:  fmt.Sprintf("program name of %d characters, more than the limit of %d", len(prog), MaxNameLength),
			Expected: formName})
		return
	}
	if b.reserved[prog] {
		if !b.isKey(key) {
			b.unknownVar(name, value)
			return
		}
		// TEND_LOG_COMMAND: a program named like a settings group.
		b.errs.add(&Error{Where: name, Value: value,
			Problem:  "no program can be called " + prog + ": the TEND_" + upper + "_... variables are global settings",
			Expected: "a program name that is not the first word of a global setting",
			Suggest:  b.suggestSetting(name)})
		return
	}
	if prog == "main" || prog == b.cfg.Main.Name {
		if key == "command" && len(b.opts.Args) > 0 {
			b.cfg.Warnings = append(b.cfg.Warnings, name+" is ignored: the command line gives the main program")
			return
		}
		b.setProgramKey(main, key, value, name, key)
		return
	}
	p, ok := b.programs[prog]
	if !ok {
		if key != "command" {
			if !b.isKey(key) {
				// TEND_FOO_BAR_COMMAND: not program foo's key bar_command.
				b.unknownVar(name, value)
				return
			}
			suggest, _ := b.suggestVar(name)
			b.errs.add(&Error{Where: name, Value: value,
				Problem:  "no program " + prog + " is defined",
				Expected: "TEND_" + upper + "_COMMAND or a [program:" + prog + "] section to define it",
				Suggest:  suggest})
			return
		}
		p = b.defineProgram(prog, name)
		if p == nil {
			return
		}
	}
	b.setProgramKey(p, key, value, name, key)
}

// isKey reports whether key is a per-program key or a supervisord key
// that tend ignores.
func (b *builder) isKey(key string) bool {
	if _, ok := ignoredKeys[key]; ok {
		return true
	}
	for _, k := range b.keys {
		if k.Name == key {
			return true
		}
	}
	return false
}

func (b *builder) unknownVar(name, value string) {
	suggest, hint := b.suggestVar(name)
	problem := "unknown variable"
	if hint != "" {
		problem += " (" + hint + ")"
	}
	b.errs.add(&Error{Where: abbreviate(name), Value: value, Problem: problem, Suggest: suggest})
}

// suggestSetting returns the global setting nearest to the variable name,
// or "" when none is a plausible typo.
func (b *builder) suggestSetting(name string) string {
	names := make([]string, len(b.settings))
	for i, s := range b.settings {
		names[i] = s.Name
	}
	if s := nearest(strings.TrimPrefix(name, Prefix), names); s != "" {
		return Prefix + s
	}
	return ""
}

// suggestVar returns the variable that name most plausibly meant, or ""
// when nothing is close: a global setting with a typo, a known program
// with a misspelt key, a key of a misspelt known program, or a program
// name written with underscores (hint then says why). A suggestion
// changes one part of the name only, so an unrelated program's variable
// is never offered.
func (b *builder) suggestVar(name string) (suggest, hint string) {
	if s := b.suggestSetting(name); s != "" {
		return s, ""
	}
	programs := append([]string{"main", b.cfg.Main.Name}, b.order...)
	keys := make([]string, len(b.keys))
	for i, k := range b.keys {
		keys[i] = k.Name
	}
	rest := strings.ToLower(strings.TrimPrefix(name, Prefix))
	// Every split of rest into PROGRAM_KEY, the shortest program first.
	for i := strings.IndexByte(rest, '_'); i >= 0; i = nextUnderscore(rest, i) {
		prog, key := rest[:i], rest[i+1:]
		if key == "" {
			continue
		}
		if b.isKey(key) {
			joined := strings.ReplaceAll(prog, "_", "")
			if joined != prog && ValidName(joined) && !b.reserved[joined] &&
				(slices.Contains(programs, joined) || key == "command") {
				return Prefix + strings.ToUpper(joined+"_"+key), "program names are lower-case letters and digits, without _"
			}
			if p := nearest(prog, programs); p != "" && p != prog {
				return Prefix + strings.ToUpper(p+"_"+key), ""
			}
		}
		if slices.Contains(programs, prog) {
			if k := nearest(key, keys); k != "" {
				return Prefix + strings.ToUpper(prog+"_"+k), ""
			}
		}
	}
	return "", ""
}

// nextUnderscore returns the index of the next '_' in s after i, or -1.
func nextUnderscore(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '_')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// abbreviate shortens a variable name too long to read in a message,
// keeping its start and its end.
func abbreviate(name string) string {
	if len(name) <= 100 {
		return name
	}
	return fmt.Sprintf("%s...%s (%d characters)", name[:40], name[len(name)-20:], len(name))
}

// finishMain checks the main program and applies its defaults.
func (b *builder) finishMain(p *Program) {
	c := &b.cfg
	p.Name = c.Main.Name
	if _, set := b.where[p.Name]["autorestart"]; !set {
		if c.MainOnExit == MainRestart {
			p.AutoRestart = RestartAlways
		} else {
			p.AutoRestart = RestartNever
		}
	}
	if _, set := b.where[p.Name]["stopwaitsecs"]; !set {
		p.StopWait = c.Stop.Timeout
	}
	if len(p.Command) == 0 && b.opts.RequireMain {
		b.errs.add(&Error{Where: "command line", Problem: "no main program given",
			Expected: "tend [flags] -- CMD [ARGS...], or TEND_MAIN_COMMAND"})
	}
	b.finishProgram(p)
}

// finishProgram checks a program once all its keys are known.
func (b *builder) finishProgram(p *Program) {
	// A command given but invalid has its own error already.
	if len(p.Command) == 0 && p.Name != b.cfg.Main.Name && b.where[p.Name]["command"] == "" {
		// Only a [program:NAME] section can lack a command: the value
		// seen at its line is the header.
		b.errs.add(&Error{Where: p.Source, Value: "[program:" + p.Name + "]", Problem: "program " + p.Name + " has no command",
			Expected: "command = ... or TEND_" + strings.ToUpper(p.Name) + "_COMMAND"})
	}
	if p.User == "" {
		p.User = b.cfg.User
	}
	if p.User != "" {
		cred, err := b.opts.LookupUser(p.User)
		if err != nil {
			where := b.where[p.Name]["user"]
			if where == "" {
				where = Prefix + "USER"
			}
			b.fail(where, p.User, err.Error(), "a user that exists in /etc/passwd, or a numeric uid")
		}
		p.Credential = cred
	}
}

// checkDependencies reports unknown dependencies and dependency cycles.
func (b *builder) checkDependencies() {
	c := &b.cfg
	byName := map[string]*Program{c.Main.Name: &c.Main}
	for i := range c.Programs {
		byName[c.Programs[i].Name] = &c.Programs[i]
	}
	all := append([]*Program{&c.Main}, ptrs(c.Programs)...)
	for _, p := range all {
		for _, d := range p.DependsOn {
			if _, ok := byName[d]; !ok {
				where := b.where[p.Name]["depends_on"]
				b.errs.add(&Error{Where: where, Value: strings.Join(p.DependsOn, ","),
					Problem: "unknown dependency " + d, Suggest: nearest(d, sortedKeys(byName))})
			}
		}
	}
	// Depth-first search; a grey node met again closes a cycle.
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(name string) bool
	visit = func(name string) bool {
		color[name] = grey
		stack = append(stack, name)
		for _, d := range byName[name].DependsOn {
			if _, ok := byName[d]; !ok {
				continue
			}
			switch color[d] {
			case grey:
				i := indexOf(stack, d)
				cycle := append(append([]string{}, stack[i:]...), d)
				b.errs.add(&Error{Where: b.where[name]["depends_on"], Value: strings.Join(byName[name].DependsOn, ","),
					Problem: "depends_on cycle: " + strings.Join(cycle, " -> ")})
				return true
			case white:
				if visit(d) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[name] = black
		return false
	}
	for _, p := range all {
		if color[p.Name] == white {
			stack = stack[:0]
			if visit(p.Name) {
				return
			}
		}
	}
}

// dependenciesFirst returns programs, sorted by priority, reordered so
// that each comes after the side programs it depends on: the start order,
// whose reverse is the stop order. It takes the first program whose
// dependencies are all placed, so priority decides wherever depends_on
// does not. programs must have no dependency cycle.
func dependenciesFirst(programs []Program) []Program {
	side := map[string]bool{}
	for _, p := range programs {
		side[p.Name] = true
	}
	placed := map[string]bool{}
	out := make([]Program, 0, len(programs))
	rest := append([]Program(nil), programs...)
	for len(rest) > 0 {
		next := 0
		for i, p := range rest {
			ready := true
			for _, d := range p.DependsOn {
				// The main program starts last; a side program that
				// depends on it waits at run time, whatever its place.
				if side[d] && !placed[d] {
					ready = false
				}
			}
			if ready {
				next = i
				break
			}
		}
		out = append(out, rest[next])
		placed[rest[next].Name] = true
		rest = append(rest[:next], rest[next+1:]...)
	}
	return out
}

// LookupUser resolves a user name or numeric uid with the system's user
// database, including supplementary groups.
func LookupUser(name string) (*Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if _, numErr := strconv.ParseUint(name, 10, 32); numErr != nil {
			return nil, fmt.Errorf("no such user")
		}
		u, err = user.LookupId(name)
		if err != nil {
			// A numeric uid need not exist in /etc/passwd, as with docker --user.
			uid, _ := strconv.ParseUint(name, 10, 32)
			return &Credential{Name: name, UID: uint32(uid), GID: uint32(uid), Home: "/"}, nil
		}
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	cred := &Credential{Name: u.Username, UID: uint32(uid), GID: uint32(gid), Home: u.HomeDir}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return cred, nil
}

func environ(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			m[k] = v
		}
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func ptrs(ps []Program) []*Program {
	out := make([]*Program, len(ps))
	for i := range ps {
		out[i] = &ps[i]
	}
	return out
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"tend/config"
)

var update = flag.Bool("update", false, "rewrite the generated tables in README.md")

// TestReadmeDocumentsEverySetting keeps README.md's tables of settings
// and program keys in step with the config package. Run
// `go test ./cmd/tend -run TestReadme -update` to regenerate them.
func TestReadmeDocumentsEverySetting(t *testing.T) {
	const path = "../../README.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	readme = replaceBlock(t, readme, "settings", settingsTable())
	readme = replaceBlock(t, readme, "program-keys", programKeysTable())
	if *update {
		if err := os.WriteFile(path, []byte(readme), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if readme != string(b) {
		t.Fatal("README.md tables are out of date: run go test ./cmd/tend -run TestReadme -update")
	}
}

func replaceBlock(t *testing.T, doc, name, body string) string {
	begin, end := "<!-- "+name+":begin -->\n", "<!-- "+name+":end -->"
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %s block (%q ... %q)", name, begin, end)
	}
	return doc[:i+len(begin)] + body + doc[j:]
}

func settingsTable() string {
	var b strings.Builder
	b.WriteString("| variable | default | what it does | form |\n| --- | --- | --- | --- |\n")
	area := ""
	for _, s := range config.Settings() {
		if s.Area != area {
			area = s.Area
			fmt.Fprintf(&b, "| **%s** | | | |\n", area)
		}
		def := s.Default
		if def == "" {
			def = "(unset)"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", s.Var(), def, cell(s.Doc), cell(s.Form))
	}
	return b.String()
}

func programKeysTable() string {
	var b strings.Builder
	b.WriteString("| key | default | what it does | form |\n| --- | --- | --- | --- |\n")
	for _, k := range config.ProgramKeys() {
		def := k.Default
		if def == "" {
			def = "(unset)"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", k.Name, def, cell(k.Doc), cell(k.Form))
	}
	return b.String()
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

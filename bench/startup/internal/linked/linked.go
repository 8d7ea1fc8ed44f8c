// Package linked tells the start-up bench's programs what they import and
// what tend imports, so that their tests keep the two lists equal.
package linked

import (
	"fmt"
	"go/parser"
	"go/token"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// Imports returns the import paths of the Go file at path, sorted.
func Imports(path string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
	if err != nil {
		return nil, fmt.Errorf("read the imports of %s: %w", path, err)
	}
	var paths []string
	for _, spec := range f.Imports {
		p, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: import %s: %w", path, spec.Path.Value, err)
		}
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths, nil
}

// GoList runs `go list` with args (the go command must be installed) and
// returns its output's fields.
func GoList(args ...string) ([]string, error) {
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %w", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out)), nil
}

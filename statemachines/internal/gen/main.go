// Command gen writes the golden JSON of every workflow definition (template
// form, with DefinitionSubstitutions placeholders) into a directory. It is
// run by `go generate ./statemachines/...` (make generate).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cpwarden/cpwarden/statemachines"
)

func main() {
	dir := flag.String("dir", "testdata", "directory to write <workflow>.asl.json into")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "statemachines gen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, w := range statemachines.Workflows() {
		b, err := w.JSON(statemachines.TemplateResource)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, statemachines.GoldenFile(w.Name)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Command gen writes cfn/template.json; `go generate ./cfn/...` (make
// generate) runs it.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/cpwarden/cpwarden/cfn"
)

func main() {
	out := flag.String("o", "template.json", "file to write the template to")
	flag.Parse()
	b, err := cfn.JSON()
	if err == nil {
		err = os.WriteFile(*out, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cfn gen:", err)
		os.Exit(1)
	}
}

//go:build nocfn

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// errNoTemplate is the answer of a build without CloudFormation support.
var errNoTemplate = errors.New("this cpwarden was built with -tags nocfn (as `make demo` builds it), without the CloudFormation template; " +
	"run `go run ./cmd/cpwarden template` for it")

func templateJSON() ([]byte, error) { return nil, errNoTemplate }

func newTemplateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "template",
		Short: "Print the CloudFormation template (not in this build: -tags nocfn)",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return errNoTemplate },
	}
}

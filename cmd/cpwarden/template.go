//go:build !nocfn

package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/cpwarden/cpwarden/cfn"
)

func newTemplateCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "template",
		Short: "Print the CloudFormation template (cfn/template.json) that deploys cpwarden for one cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := templateJSON()
			if err != nil {
				return fmt.Errorf("build template: %w", err)
			}
			if out == "" || out == "-" {
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			return os.WriteFile(out, b, 0o644)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the template to this file instead of stdout")
	return cmd
}

// templateJSON is the CloudFormation template. Builds with the nocfn tag
// (what `make demo` runs: the demo deploys nothing, and goformation is 250
// packages of a first build) have no template.
func templateJSON() ([]byte, error) { return cfn.JSON() }

package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/statemachines"
)

// placeholder is a DefinitionSubstitutions variable in a definition file.
var placeholder = regexp.MustCompile(`\$\{[A-Za-z0-9_]+\}`)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate [definition.asl.json...]",
		Short: "Validate States Language definitions (ours by default) and check the template builds",
		Long: "Checks definitions the way Step Functions does when a state machine is created (internal/asl's validator). " +
			"Without arguments it checks cpwarden's own workflows and builds the CloudFormation template; with files, " +
			"it checks each file, treating ${...} placeholders as the function ARNs CloudFormation substitutes.",
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			var failed []string
			check := func(name string, def []byte) {
				def = placeholder.ReplaceAllFunc(def, func(m []byte) []byte {
					if string(m) == "${"+statemachines.ClusterNameKey+"}" {
						return []byte("example")
					}
					return []byte("arn:aws:lambda:us-east-1:123456789012:function:placeholder")
				})
				if err := asl.Validate(def); err != nil {
					failed = append(failed, name)
					fmt.Fprintf(out, "%s: INVALID\n", name)
					var errs asl.DefinitionErrors
					if errors.As(err, &errs) {
						for _, e := range errs {
							fmt.Fprintf(out, "  %v\n", e)
						}
					} else {
						fmt.Fprintf(out, "  %v\n", err)
					}
					return
				}
				fmt.Fprintf(out, "%s: ok\n", name)
			}
			if len(args) == 0 {
				for _, w := range statemachines.Workflows() {
					def, err := w.JSON(statemachines.TemplateResource)
					if err != nil {
						return err
					}
					check(w.Name, def)
				}
				if _, err := templateJSON(); err != nil {
					failed = append(failed, "template")
					fmt.Fprintf(out, "template: %v\n", err)
				} else {
					fmt.Fprintln(out, "template: ok")
				}
			}
			for _, path := range args {
				def, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				check(path, def)
			}
			if len(failed) > 0 {
				return fmt.Errorf("%d invalid: %v", len(failed), failed)
			}
			return nil
		},
	}
}

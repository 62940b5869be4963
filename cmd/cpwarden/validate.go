package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/statemachines"
)

func newValidateCmd() *cobra.Command {
	var extra map[string]string
	cmd := &cobra.Command{
		Use:   "validate [definition.asl.json...]",
		Short: "Validate States Language definitions (ours by default) and check the template builds",
		Long: "Checks definitions the way Step Functions does when a state machine is created (internal/asl's validator). " +
			"Without arguments it checks cpwarden's own workflows and builds the CloudFormation template; with files, " +
			"it checks each file after substituting its ${...} placeholders as CloudFormation does: " +
			"${ClusterName} with an example name, each worker's ${<Step>FunctionArn} with its function's local ARN, " +
			"and any other placeholder with the value --substitute gives it; a placeholder without a value is invalid, " +
			"as it would be at deploy time.",
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			var failed []string
			values := localSubstitutions(exampleCluster, extra)
			check := func(name string, def []byte) {
				def, err := statemachines.Substitute(def, values)
				if err != nil {
					err = fmt.Errorf("%w (--substitute KEY=VALUE gives a placeholder a value)", err)
				} else {
					err = asl.Validate(def)
				}
				if err != nil {
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
	cmd.Flags().StringToStringVar(&extra, "substitute", nil, "a value for a placeholder of the files: KEY=VALUE (repeatable, or comma-separated)")
	return cmd
}

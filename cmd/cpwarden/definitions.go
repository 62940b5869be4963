package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cpwarden/cpwarden/statemachines"
)

func newDefinitionsCmd() *cobra.Command {
	var dir string
	var deployed bool
	var cluster string
	cmd := &cobra.Command{
		Use:   "definitions [workflow...]",
		Short: "List the workflows, print one definition, or write them all (-o)",
		Long: "Without arguments, lists the workflows. With one workflow name, prints its States Language definition. " +
			"With -o DIR, writes <workflow>.asl.json for the named workflows (all by default).\n\n" +
			"Definitions are printed as the template embeds them, each Task's Lambda ARN a ${...FunctionArn} " +
			"placeholder; --deployed substitutes them as CloudFormation does, with example function ARNs and --cluster.",
		RunE: func(cmd *cobra.Command, args []string) error {
			render := func(w statemachines.Workflow) ([]byte, error) {
				if deployed {
					return w.Deployed(cluster)
				}
				return w.JSON(statemachines.TemplateResource)
			}
			wfs, err := workflows(args)
			if err != nil {
				return err
			}
			switch {
			case dir != "":
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
				for _, w := range wfs {
					b, err := render(w)
					if err != nil {
						return err
					}
					path := filepath.Join(dir, statemachines.GoldenFile(w.Name))
					if err := os.WriteFile(path, b, 0o644); err != nil {
						return err
					}
					fmt.Fprintln(cmd.OutOrStdout(), path)
				}
				return nil
			case len(args) == 1:
				b, err := render(wfs[0])
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			case len(args) > 1:
				return fmt.Errorf("print one workflow at a time, or write several with -o DIR")
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WORKFLOW\tTYPE\tWORKERS")
			for _, w := range wfs {
				var hs []string
				for _, h := range w.Handlers {
					hs = append(hs, string(h))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", w.Name, w.Type, strings.Join(hs, ", "))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&dir, "output", "o", "", "directory to write <workflow>.asl.json files into")
	cmd.Flags().BoolVar(&deployed, "deployed", false, "substitute the placeholders as CloudFormation does (example function ARNs)")
	cmd.Flags().StringVar(&cluster, "cluster", "example", "cluster name substituted with --deployed")
	return cmd
}

// workflows resolves workflow names (all when none are given).
func workflows(names []string) ([]statemachines.Workflow, error) {
	if len(names) == 0 {
		return statemachines.Workflows(), nil
	}
	var out []statemachines.Workflow
	for _, n := range names {
		w, ok := statemachines.ByName(n)
		if !ok {
			return nil, fmt.Errorf("unknown workflow %q (known: %s)", n, workflowNames())
		}
		out = append(out, w)
	}
	return out, nil
}

func workflowNames() string {
	var names []string
	for _, w := range statemachines.Workflows() {
		names = append(names, w.Name)
	}
	return strings.Join(names, ", ")
}

package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cpwarden/cpwarden/statemachines"
)

func newGraphCmd() *cobra.Command {
	var markdown bool
	cmd := &cobra.Command{
		Use:   "graph <workflow>",
		Short: "Draw a workflow as a Mermaid flowchart (the README's pictures)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			wfs, err := workflows(args)
			if err != nil {
				return err
			}
			g := statemachines.Mermaid(wfs[0].Definition(statemachines.TemplateResource))
			return writeGraph(cmd.OutOrStdout(), g, markdown)
		},
	}
	cmd.Flags().BoolVar(&markdown, "markdown", false, "wrap the graph in a ```mermaid block")
	return cmd
}

func writeGraph(w io.Writer, g string, markdown bool) error {
	if markdown {
		_, err := fmt.Fprintf(w, "```mermaid\n%s```\n", g)
		return err
	}
	_, err := io.WriteString(w, g)
	return err
}

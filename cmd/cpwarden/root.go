package main

import "github.com/spf13/cobra"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "cpwarden",
		Short:         "Keep a self-managed Kubernetes control plane safe on AWS",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newDemoCmd(),
		newRunCmd(),
		newReplayCmd(),
		newTemplateCmd(),
		newDefinitionsCmd(),
		newGraphCmd(),
		newValidateCmd(),
	)
	return root
}

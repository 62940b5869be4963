// Package statemachines defines cpwarden's workflows (lifecycle, backup,
// health) in the States Language, built on the internal/asl model, one file
// per workflow. The CloudFormation template embeds them with each Task's
// Lambda ARN left as a DefinitionSubstitutions placeholder; local runs
// resolve the same definitions to in-process workers.
package statemachines

//go:generate go run ./internal/gen -dir testdata

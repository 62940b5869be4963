package main

// The files the verbs share: the execution histories and worker logs of
// `run` and `demo`, their raw EMF documents (--emf-out), and the
// substitution of definition files (`validate`, `replay --definition`).

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/internal/local/runner"
	"github.com/cpwarden/cpwarden/statemachines"
	"github.com/cpwarden/cpwarden/workers"
)

func writeHistoryFile(path string, events []asl.HistoryEvent) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := runner.WriteHistory(f, events); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func openLog(path string) (io.Writer, func(), error) {
	if path == "" {
		return io.Discard, func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { _ = f.Close() }, nil
}

// emfFlagUsage is the help of --emf-out, the same for `run` and `demo`.
const emfFlagUsage = "write every EMF document the workers printed to this file, raw, one per line, as CloudWatch Logs receives them"

// emfOut is the file of --emf-out: the EMF documents the workers printed,
// byte for byte, one JSON object a line (the workers print each as one
// line; the worker set keeps them apart from the log lines). It is created
// before the run starts, so that a path that cannot be written fails at
// once instead of after the run.
type emfOut struct {
	path string
	f    *os.File
	docs int
}

// createEMFOut creates path; an empty path means no file (a nil *emfOut,
// whose methods do nothing).
func createEMFOut(path string) (*emfOut, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--emf-out: %w", err)
	}
	return &emfOut{path: path, f: f}, nil
}

// Write appends documents as Set.Metrics returns them: whole lines.
func (o *emfOut) Write(docs []byte) error {
	if o == nil || len(docs) == 0 {
		return nil
	}
	if _, err := o.f.Write(docs); err != nil {
		return fmt.Errorf("--emf-out: %w", err)
	}
	o.docs += bytes.Count(docs, []byte{'\n'})
	return nil
}

// Close closes the file and says on out what it holds. Only the first
// call does anything: a deferred Close(io.Discard) closes the file of a
// run that ended early.
func (o *emfOut) Close(out io.Writer) error {
	if o == nil || o.f == nil {
		return nil
	}
	err := o.f.Close()
	o.f = nil
	if err != nil {
		return fmt.Errorf("--emf-out: %w", err)
	}
	fmt.Fprintf(out, "EMF: %s (%d documents)\n", o.path, o.docs)
	return nil
}

// exampleCluster names the cluster in a definition that is checked rather
// than deployed.
const exampleCluster = "example"

// localSubstitutions are the DefinitionSubstitutions of a definition file
// run or checked here: the cluster's name and, for each handler, its
// function's local ARN (statemachines.LocalResource), plus extra. A file's
// placeholder without a value is an error from statemachines.Substitute,
// as it would be at deploy time.
func localSubstitutions(cluster string, extra map[string]string) map[string]string {
	values := map[string]string{statemachines.ClusterNameKey: cluster}
	for _, h := range workers.All {
		values[statemachines.SubstitutionKey(h)] = statemachines.LocalResource(h)
	}
	for k, v := range extra {
		values[k] = v
	}
	return values
}

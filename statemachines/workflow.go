package statemachines

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/workers"
)

// Resolver names the Task resource that runs handler h: a
// DefinitionSubstitutions placeholder in the template, a Lambda ARN, or any
// string a local engine maps back to a worker.
type Resolver func(h workers.Handler) string

// SubstitutionKey is the DefinitionSubstitutions key of h's function ARN:
// the handler's Step name plus "FunctionArn". The handler name itself
// ("remove-member") is not used because substitution variables are
// letters, digits and underscores only.
func SubstitutionKey(h workers.Handler) string { return h.Step() + "FunctionArn" }

// TemplateResource is the Resolver of the template form: "${DrainFunctionArn}",
// replaced by CloudFormation with the function's ARN.
func TemplateResource(h workers.Handler) string { return "${" + SubstitutionKey(h) + "}" }

// LocalResource gives each handler a Lambda ARN in a fixed local account,
// for running and validating the definitions outside AWS.
func LocalResource(h workers.Handler) string {
	return "arn:aws:lambda:us-east-1:123456789012:function:" + LocalFunctionName(h)
}

// LocalFunctionName is the function name in LocalResource's ARN, the name an
// in-process resolver registers h's worker under.
func LocalFunctionName(h workers.Handler) string { return "cpwarden-local-" + string(h) }

// ClusterNameKey is the substitution that names the cluster in the workers'
// inputs (member, backup and health workers take ClusterName): the template
// maps it to the ClusterName parameter.
const ClusterNameKey = "ClusterName"

// clusterName is the placeholder the definitions carry for it.
const clusterName = "${" + ClusterNameKey + "}"

// placeholderRE matches a substitution variable as CloudFormation reads it.
var placeholderRE = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// Substitute does what CloudFormation does with DefinitionSubstitutions:
// each ${Key} becomes values[Key]. A placeholder without a value is an
// error, as it would be at deploy time.
func Substitute(def []byte, values map[string]string) ([]byte, error) {
	var missing []string
	out := placeholderRE.ReplaceAllFunc(def, func(m []byte) []byte {
		key := string(m[2 : len(m)-1])
		v, ok := values[key]
		if !ok {
			missing = append(missing, key)
			return m
		}
		// The value lands inside a JSON string: escape it as one.
		q, _ := json.Marshal(v)
		return q[1 : len(q)-1]
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("no substitution for %v", missing)
	}
	return out, nil
}

// Substitutions are the values CloudFormation gives the placeholders of w,
// with cluster as the cluster's name and arn naming each worker's function.
func (w Workflow) Substitutions(cluster string, arn func(workers.Handler) string) map[string]string {
	m := map[string]string{ClusterNameKey: cluster}
	for _, h := range w.Handlers {
		m[SubstitutionKey(h)] = arn(h)
	}
	return m
}

// Deployed is the definition as Step Functions receives it in cluster's
// stack, with LocalResource ARNs for the functions: what local runs and the
// validators take.
func (w Workflow) Deployed(cluster string) ([]byte, error) {
	def, err := w.JSON(TemplateResource)
	if err != nil {
		return nil, err
	}
	return Substitute(def, w.Substitutions(cluster, LocalResource))
}

// HandlerOf maps a resource produced by TemplateResource or LocalResource
// back to its handler.
func HandlerOf(resource string) (workers.Handler, bool) {
	for _, h := range workers.All {
		if resource == TemplateResource(h) || resource == LocalResource(h) {
			return h, true
		}
	}
	return "", false
}

// Execution types of Step Functions.
const (
	TypeStandard = "STANDARD"
	TypeExpress  = "EXPRESS"
)

// Workflow is one of cpwarden's state machines.
type Workflow struct {
	// Name is the workflow's short name: "lifecycle", "backup", "health".
	Name string
	// Type is the Step Functions type: STANDARD or EXPRESS.
	Type string
	// Handlers lists the workers its Task states invoke, in a stable order.
	Handlers []workers.Handler
	// Policy is the Retry policy of its Task states.
	Policy RetryPolicy

	build func(Resolver) *asl.StateMachine
}

// Definition builds the workflow's definition with Task resources from r.
func (w Workflow) Definition(r Resolver) *asl.StateMachine { return w.build(r) }

// JSON is the definition with resources from r, indented: the form written to
// testdata and embedded in the template.
func (w Workflow) JSON(r Resolver) ([]byte, error) {
	raw, err := json.Marshal(w.build(r))
	if err != nil {
		return nil, fmt.Errorf("marshal %s definition: %w", w.Name, err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("indent %s definition: %w", w.Name, err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// Workflows returns every workflow in a stable order.
func Workflows() []Workflow { return []Workflow{Lifecycle(), Backup(), Health()} }

// ByName returns the workflow called name.
func ByName(name string) (Workflow, bool) {
	for _, w := range Workflows() {
		if w.Name == name {
			return w, true
		}
	}
	return Workflow{}, false
}

// task is a Task state invoking handler h with the workflow's retry policy
// and h's timeout.
func task(name string, h workers.Handler, r Resolver, p RetryPolicy) *asl.Task {
	return &asl.Task{
		Name:           name,
		Resource:       r(h),
		TimeoutSeconds: asl.Int(TimingOf(h).TaskTimeoutSeconds),
		Retry:          p.retriers(),
	}
}

func (p RetryPolicy) retriers() []asl.Retrier {
	out := make([]asl.Retrier, 0, len(p))
	for _, r := range p {
		ar := asl.Retrier{
			ErrorEquals:     append([]string(nil), r.ErrorEquals...),
			IntervalSeconds: asl.Ptr(r.IntervalSeconds),
			MaxAttempts:     asl.Ptr(r.MaxAttempts),
			BackoffRate:     asl.Ptr(r.BackoffRate),
			JitterStrategy:  "FULL",
		}
		if r.MaxDelaySeconds > 0 {
			ar.MaxDelaySeconds = asl.Ptr(r.MaxDelaySeconds)
		}
		out = append(out, ar)
	}
	return out
}

// catchAll sends any error left after the retries to next, with the error
// and cause at $.Failure.
func catchAll(next string) asl.Catcher {
	return asl.Catcher{ErrorEquals: []string{"States.ALL"}, ResultPath: asl.P("$.Failure"), Next: next}
}

// failWithCaught ends the execution with the error caught at $.Failure, so
// the execution's error is the worker's own (Backup.Corrupt, ...).
func failWithCaught(name string) *asl.Fail {
	return &asl.Fail{Name: name, ErrorPath: "$.Failure.Error", CausePath: "$.Failure.Cause"}
}

// GoldenFile is the name of a workflow's checked-in definition in testdata.
func GoldenFile(workflow string) string { return workflow + ".asl.json" }

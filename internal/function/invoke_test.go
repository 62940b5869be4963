package function

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/workers"
)

type testIn struct {
	Name string `json:"Name"`
	Fail string `json:"Fail,omitempty"`
}

type testOut struct {
	Greeting string `json:"Greeting"`
}

// testWorker greets, or fails as its input says, adding a business metric.
func testWorker(ctx context.Context, in testIn) (testOut, error) {
	_ = emf.FromContext(ctx).PutMetric("Greetings", 1, types.StandardUnitCount)
	switch in.Fail {
	case "classified":
		return testOut{}, faults.New(faults.EtcdQuorumAtRisk, "2 of 3 members healthy")
	case "wrapped":
		return testOut{}, errors.Join(errors.New("context"), faults.Wrap(faults.AWSThrottled, errors.New("Rate exceeded"), "describe group"))
	case "plain":
		return testOut{}, errors.New("something unexpected")
	case "panic":
		panic("worker bug")
	}
	return testOut{Greeting: "hello " + in.Name}, nil
}

func bindTest(out io.Writer) func(ctx context.Context, payload string) ([]byte, error) {
	env := map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "cpwarden-prod-1-remove-member"}
	steps := []emf.StepOption{
		emf.WithDimension("ClusterName", "prod-1"),
		emf.WithContainer(emf.NewContainerFromEnv(getenv(env))),
	}
	h := bind(binder{log: slog.New(slog.DiscardHandler), steps: steps, metrics: out}, workers.RemoveMember, testWorker)
	return func(ctx context.Context, payload string) ([]byte, error) { return h.Invoke(ctx, []byte(payload)) }
}

func TestInvokeResults(t *testing.T) {
	cases := []struct {
		name        string
		payload     string
		wantOut     string
		wantType    string // errorType when the invocation fails
		wantMessage string
		wantMetric  string
	}{
		{"a result is the worker's output as JSON", `{"Name":"etcd","Extra":{"ignored":true}}`, `{"Greeting":"hello etcd"}`, "", "", "RemoveMemberSuccess"},
		{"an empty payload is the zero input", ``, `{"Greeting":"hello "}`, "", "", "RemoveMemberSuccess"},
		{"null is the zero input", `null`, `{"Greeting":"hello "}`, "", "", "RemoveMemberSuccess"},
		{"a classified error keeps its ASL name", `{"Fail":"classified"}`, "", faults.EtcdQuorumAtRisk, "2 of 3 members healthy", "RemoveMemberFailure"},
		{"a wrapped classified error keeps its ASL name", `{"Fail":"wrapped"}`, "", faults.AWSThrottled, "context\ndescribe group: Rate exceeded", "RemoveMemberFailure"},
		{"an unclassified error is Worker.Internal", `{"Fail":"plain"}`, "", faults.Internal, "something unexpected", "RemoveMemberFailure"},
		{"malformed JSON is Input.Invalid", `{"Name":`, "", faults.InputInvalid, "remove-member: the input is not the JSON this step takes: unexpected end of JSON input", "RemoveMemberFailure"},
		{"a wrong type is Input.Invalid", `{"Name":42}`, "", faults.InputInvalid, "remove-member: the input is not the JSON this step takes: json: cannot unmarshal number into Go struct field testIn.Name of type string", "RemoveMemberFailure"},
		{"a non-object is Input.Invalid", `["x"]`, "", faults.InputInvalid, "remove-member: the input is not the JSON this step takes: json: cannot unmarshal array into Go value of type function.testIn", "RemoveMemberFailure"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			invoke := bindTest(&buf)
			got, err := invoke(t.Context(), c.payload)
			if c.wantType == "" {
				if err != nil || string(got) != c.wantOut {
					t.Fatalf("got %s, %v; want %s", got, err, c.wantOut)
				}
			} else {
				var ive messages.InvokeResponse_Error
				if !errors.As(err, &ive) {
					t.Fatalf("err = %#v, want a messages.InvokeResponse_Error (else aws-lambda-go reports the Go type's name)", err)
				}
				if ive.Type != c.wantType || ive.Message != c.wantMessage || ive.ShouldExit {
					t.Fatalf("got %+v, want type %s message %q", ive, c.wantType, c.wantMessage)
				}
			}
			recs, err := emf.DecodeAll(&buf)
			if err != nil {
				t.Fatal(err)
			}
			for _, dims := range [][]string{{"ClusterName"}, {"ClusterName", "FunctionName"}} {
				found := emf.Find(recs, c.wantMetric, dims...)
				if len(found) != 1 || found[0].Namespace != "K8sCluster/EtcdLifecycle" {
					t.Fatalf("%s with dimensions %v: %d records in\n%s", c.wantMetric, dims, len(found), buf.String())
				}
			}
		})
	}
}

func TestInvokePanicIsWorkerInternalAndEndsTheProcess(t *testing.T) {
	var buf bytes.Buffer
	_, err := bindTest(&buf)(t.Context(), `{"Fail":"panic"}`)
	var ive messages.InvokeResponse_Error
	if !errors.As(err, &ive) {
		t.Fatalf("err = %#v", err)
	}
	if ive.Type != faults.Internal || !strings.Contains(ive.Message, "panic: worker bug") || !ive.ShouldExit {
		t.Fatalf("got %+v, want Worker.Internal naming the panic, ShouldExit", ive)
	}
	recs, err := emf.DecodeAll(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(emf.Find(recs, "RemoveMemberFailure", "ClusterName")) != 1 {
		t.Fatalf("no failure metric for the panic:\n%s", buf.String())
	}
}

func TestInitErrorDocument(t *testing.T) {
	_, err := LoadConfig(lookup(map[string]string{HandlerVar: "nope"}))
	typ, doc := initErrorDocument(err)
	if typ != HandlerNotFoundType || !strings.Contains(string(doc), `_HANDLER: \"nope\" is not a cpwarden handler`) {
		t.Fatalf("%s %s", typ, doc)
	}
	env := validEnv(workers.HealthProbe)
	env["CLUSTER_NAME"], env["RECOVERY_THRESHOLD"] = "", "x"
	_, err = LoadConfig(lookup(env))
	typ, doc = initErrorDocument(err)
	if typ != InitErrorType || !strings.Contains(string(doc), `"errorMessage":"CLUSTER_NAME: required; RECOVERY_THRESHOLD: \"x\" is not an integer"`) {
		t.Fatalf("%s %s", typ, doc)
	}
}

func TestMetricsWriterOfTheContextTakesOneInvocationsDocuments(t *testing.T) {
	var shared, held bytes.Buffer
	invoke := bindTest(&shared)
	if _, err := invoke(WithMetricsWriter(t.Context(), &held), `{"Name":"a"}`); err != nil {
		t.Fatal(err)
	}
	if shared.Len() != 0 || !strings.Contains(held.String(), `"RemoveMemberSuccess"`) {
		t.Fatalf("the context's writer did not get the document: shared %q, held %q", shared.String(), held.String())
	}
	if _, err := invoke(t.Context(), `{"Name":"b"}`); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(shared.String(), `"RemoveMemberSuccess"`) {
		t.Fatalf("without one, the function's writer did not get the document: %q", shared.String())
	}
}

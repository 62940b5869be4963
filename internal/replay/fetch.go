package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/cpwarden/cpwarden/internal/asl"
)

// HistoryAPI is the part of the Step Functions API Fetch uses; the SDK's
// *sfn.Client satisfies it.
type HistoryAPI interface {
	GetExecutionHistory(ctx context.Context, in *sfn.GetExecutionHistoryInput, optFns ...func(*sfn.Options)) (*sfn.GetExecutionHistoryOutput, error)
}

// Fetch reads the whole history of an execution with GetExecutionHistory,
// every page, with the execution data (inputs and outputs) included.
func Fetch(ctx context.Context, api HistoryAPI, executionArn string) ([]asl.HistoryEvent, error) {
	var events []asl.HistoryEvent
	p := sfn.NewGetExecutionHistoryPaginator(api, &sfn.GetExecutionHistoryInput{
		ExecutionArn:         aws.String(executionArn),
		IncludeExecutionData: aws.Bool(true),
		MaxResults:           1000,
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("replay: GetExecutionHistory %s: %w", executionArn, err)
		}
		// The SDK's event structs carry the API's member names in Go
		// spelling; encoding/json matches names without regard to case, so
		// they decode into the GetExecutionHistory shapes of internal/asl
		// through their JSON form.
		b, err := json.Marshal(page.Events)
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		var got []asl.HistoryEvent
		if err := json.Unmarshal(b, &got); err != nil {
			return nil, fmt.Errorf("replay: convert the events: %w", err)
		}
		events = append(events, got...)
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].ID < events[j].ID })
	return events, nil
}

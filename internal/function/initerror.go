package function

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Error types of a failed init, as the invoker sees them. They are Lambda's
// own names for the two cases.
const (
	InitErrorType       = "Runtime.InitError"
	HandlerNotFoundType = "Runtime.HandlerNotFound"
)

// initErrorDocument is the error document of a failed init.
func initErrorDocument(err error) (errorType string, doc []byte) {
	errorType = InitErrorType
	var he *HandlerError
	if errors.As(err, &he) {
		errorType = HandlerNotFoundType
	}
	doc, _ = json.Marshal(struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}{strings.ReplaceAll(err.Error(), "\n", "; "), errorType})
	return errorType, doc
}

// ReportInitError tells the Runtime API why the init failed, as a runtime
// should (POST /runtime/init/error): the invocation that waited for the
// init then fails with this message instead of a bare "Runtime.ExitError".
// It is best effort: the exit status and stderr say it anyway.
func ReportInitError(runtimeAPI string, err error) {
	if runtimeAPI == "" {
		return // not under Lambda (a run by hand)
	}
	errorType, doc := initErrorDocument(err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, rerr := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+runtimeAPI+"/2018-06-01/runtime/init/error", strings.NewReader(string(doc)))
	if rerr != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Lambda-Runtime-Function-Error-Type", errorType)
	if resp, rerr := http.DefaultClient.Do(req); rerr == nil {
		resp.Body.Close()
	}
}

// Command libfloor is the floor's echo function linked with every library
// the bootstrap's workers import (the ones the issues and docs/architecture.md name:
// kubectl's drain and client-go, the etcd client and etcdutl's snapshot
// package, the AWS SDK's clients and transfer manager). A Go binary runs the
// package initialisation of everything it links before main, so this
// function's cold start is what those libraries alone cost; the bootstrap's
// cold start above it is cpwarden's own. The list is the bootstrap's
// external imports (go list -deps ./workers/bootstrap); the benchmark fails
// when they drift apart.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"

	_ "github.com/aws/aws-lambda-go/lambda/messages"
	_ "github.com/aws/aws-lambda-go/lambdacontext"
	_ "github.com/aws/aws-sdk-go-v2/aws"
	_ "github.com/aws/aws-sdk-go-v2/aws/retry"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	_ "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	_ "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	_ "github.com/aws/aws-sdk-go-v2/service/autoscaling"
	_ "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	_ "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	_ "github.com/aws/aws-sdk-go-v2/service/ec2"
	_ "github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/aws/aws-sdk-go-v2/service/s3/types"
	_ "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	_ "github.com/aws/aws-sdk-go-v2/service/ssm"
	_ "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	_ "github.com/aws/smithy-go"
	_ "github.com/aws/smithy-go/transport/http"
	_ "go.etcd.io/etcd/api/v3/etcdserverpb"
	_ "go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	_ "go.etcd.io/etcd/client/v3"
	_ "go.etcd.io/etcd/etcdutl/v3/snapshot"
	_ "go.uber.org/zap"
	_ "google.golang.org/grpc"
	_ "google.golang.org/grpc/connectivity"
	_ "google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/experimental"
	_ "google.golang.org/grpc/mem"
	_ "google.golang.org/protobuf/proto"
	_ "google.golang.org/protobuf/protoadapt"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/api/policy/v1"
	_ "k8s.io/apimachinery/pkg/api/errors"
	_ "k8s.io/apimachinery/pkg/apis/meta/v1"
	_ "k8s.io/apimachinery/pkg/labels"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/client-go/rest"
	_ "k8s.io/kubectl/pkg/drain"
)

func main() {
	lambda.Start(func(_ context.Context, in json.RawMessage) (json.RawMessage, error) { return in, nil })
}

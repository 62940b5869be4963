// Package cfn builds cpwarden's CloudFormation template with goformation:
// one stack per cluster with a Lambda function per worker, the three state
// machines, their schedules and lifecycle-event rule, the backup bucket, the
// alarms on the contract metrics and a dashboard.
//
// template.json is generated from this package by `make generate` (go
// generate) and checked in; TestTemplateIsUpToDate fails when it is stale.
//
// Deploying: build the bootstrap zip (`make package`), upload it, and deploy
// with the zip's location as parameters:
//
//	aws s3 cp dist/bootstrap.zip s3://$ARTIFACTS/cpwarden/bootstrap-$(sha256sum dist/bootstrap.zip | cut -c1-16).zip
//	aws cloudformation deploy --template-file cfn/template.json --stack-name cpwarden-$CLUSTER \
//	  --s3-bucket $ARTIFACTS --capabilities CAPABILITY_IAM \
//	  --parameter-overrides CodeS3Bucket=$ARTIFACTS CodeS3Key=cpwarden/bootstrap-<hash>.zip \
//	  ClusterName=$CLUSTER ControlPlaneAsgName=... SubnetIds=... SecurityGroupIds=... EtcdTlsSecretArn=... KubeSecretArn=...
//
// A content-addressed key makes every new build a code update. The template
// is larger than the 51,200 bytes CloudFormation accepts inline, so deploy
// uploads it to --s3-bucket first.
//
// ABANDON and instance retention: when the lifecycle workflow fails it
// completes the action with ABANDON, and the hook's DefaultResult applies when
// cpwarden cannot answer at all. On a terminate hook Auto Scaling terminates
// the instance for ABANDON too, unless the group has an instance lifecycle
// policy with RetentionTriggers.TerminateHookAbandon = retain: then the
// instance is kept (Terminating:Retained) for an operator. This stack does not
// own the group; set that policy on it to keep failed instances. The
// complete-lifecycle worker reports in its output whether the group retains.
package cfn

//go:generate go run ./internal/gen -o template.json

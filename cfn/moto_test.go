package cfn

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfnapi "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/cpwarden/cpwarden/internal/sandbox/sandboxtest"
	"github.com/cpwarden/cpwarden/statemachines"
)

// motoCannotModel are the resource types of the template that moto 5.2's
// CloudFormation does not implement: it skips them and still completes the
// stack. The rehearsal asserts they are exactly the ones missing, so a moto
// that learns one fails this test until the list is updated.
var motoCannotModel = []string{
	"AWS::AutoScaling::LifecycleHook",
	"AWS::CloudWatch::Alarm",
	"AWS::S3::BucketPolicy",
}

func bootstrapZip(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("bootstrap")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte("#!/bin/sh\n# rehearsal stand-in: the stack is created, never invoked\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDeployRehearsalInMoto creates the stack in moto's CloudFormation and
// checks every resource moto can model was created, and the state machines,
// bucket and dashboard exist behind them.
func TestDeployRehearsalInMoto(t *testing.T) {
	t.Parallel()
	srv := sandboxtest.Moto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := srv.Config()
	ec2c := ec2.NewFromConfig(cfg)
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	cf := cfnapi.NewFromConfig(cfg)

	// The network and the code artifact the stack expects to exist.
	vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.40.0.0/16")})
	if err != nil {
		t.Fatalf("CreateVpc: %v", err)
	}
	subnet, err := ec2c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.40.1.0/24")})
	if err != nil {
		t.Fatalf("CreateSubnet: %v", err)
	}
	sg, err := ec2c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("cpwarden-workers"), Description: aws.String("cpwarden workers"), VpcId: vpc.Vpc.VpcId,
	})
	if err != nil {
		t.Fatalf("CreateSecurityGroup: %v", err)
	}
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("cpwarden-artifacts")}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("cpwarden-artifacts"), Key: aws.String("cpwarden/bootstrap-rehearsal.zip"), Body: bytes.NewReader(bootstrapZip(t)),
	}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}

	body, err := os.ReadFile("template.json")
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]string{
		pClusterName:         "rehearsal",
		pControlPlaneAsgName: "rehearsal-control-plane",
		pSubnetIds:           aws.ToString(subnet.Subnet.SubnetId),
		pSecurityGroupIds:    aws.ToString(sg.GroupId),
		pEtcdTLSSecretArn:    "arn:aws:secretsmanager:us-east-1:123456789012:secret:rehearsal/etcd-AbCdEf",
		pKubeSecretArn:       "arn:aws:secretsmanager:us-east-1:123456789012:secret:rehearsal/kube-AbCdEf",
		pCodeS3Bucket:        "cpwarden-artifacts",
		pCodeS3Key:           "cpwarden/bootstrap-rehearsal.zip",
	}
	var cfParams []cfntypes.Parameter
	for k, v := range params {
		cfParams = append(cfParams, cfntypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(v)})
	}
	if _, err := cf.CreateStack(ctx, &cfnapi.CreateStackInput{
		StackName:    aws.String("cpwarden-rehearsal"),
		TemplateBody: aws.String(string(body)),
		Parameters:   cfParams,
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam},
	}); err != nil {
		t.Fatalf("CreateStack: %v", err)
	}
	status := waitForStack(ctx, t, cf, "cpwarden-rehearsal")
	if status != cfntypes.StackStatusCreateComplete {
		t.Fatalf("stack status %s", status)
	}

	created := map[string]cfntypes.StackResourceSummary{}
	pages := cfnapi.NewListStackResourcesPaginator(cf, &cfnapi.ListStackResourcesInput{StackName: aws.String("cpwarden-rehearsal")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListStackResources: %v", err)
		}
		for _, r := range page.StackResourceSummaries {
			created[aws.ToString(r.LogicalResourceId)] = r
		}
	}

	// With these parameters every condition of the template holds except
	// the optional ones below, so every resource is expected.
	_, doc := generated(t)
	var missing []string
	for id, r := range resources(doc) {
		typ := r["Type"].(string)
		c, ok := created[id]
		if slices.Contains(motoCannotModel, typ) {
			if ok {
				t.Errorf("%s (%s) was created: moto models %s now, drop it from motoCannotModel", id, typ, typ)
			}
			missing = append(missing, id+" ("+typ+")")
			continue
		}
		if !ok {
			t.Errorf("%s (%s) was not created", id, typ)
			continue
		}
		if c.ResourceStatus != cfntypes.ResourceStatusCreateComplete || aws.ToString(c.PhysicalResourceId) == "" {
			t.Errorf("%s (%s): status %s, physical id %q", id, typ, c.ResourceStatus, aws.ToString(c.PhysicalResourceId))
		}
	}
	sort.Strings(missing)
	t.Logf("created %d resources; moto cannot model %d: %s", len(created), len(missing), strings.Join(missing, ", "))

	// Behind the stack: the state machines with our definitions, the
	// versioned bucket, the dashboard.
	sfc := sfn.NewFromConfig(cfg)
	for _, w := range statemachines.Workflows() {
		arn := aws.ToString(created[stateMachineID(w)].PhysicalResourceId)
		out, err := sfc.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(arn)})
		if err != nil {
			t.Errorf("%s: DescribeStateMachine %s: %v", w.Name, arn, err)
			continue
		}
		var def struct{ StartAt string }
		if err := json.Unmarshal([]byte(aws.ToString(out.Definition)), &def); err != nil || def.StartAt == "" {
			t.Errorf("%s: deployed definition unreadable (%v): %.200s", w.Name, err, aws.ToString(out.Definition))
		}
		if got, want := aws.ToString(out.Name), "cpwarden-rehearsal-"+w.Name; got != want {
			t.Errorf("state machine name %q, want %q", got, want)
		}
	}
	// moto's bucket applies BucketEncryption only (not versioning, public
	// access block or lifecycle rules): check what it models.
	bucket := aws.ToString(created[lBackupBucket].PhysicalResourceId)
	enc, err := s3c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("backup bucket %q: GetBucketEncryption: %v", bucket, err)
	}
	rules := enc.ServerSideEncryptionConfiguration.Rules
	if len(rules) != 1 || rules[0].ApplyServerSideEncryptionByDefault == nil ||
		string(rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm) != "aws:kms" ||
		aws.ToString(rules[0].ApplyServerSideEncryptionByDefault.KMSMasterKeyID) == "" {
		t.Errorf("backup bucket %q is not encrypted with its KMS key: %+v", bucket, rules)
	}
	t.Log("moto ignores on AWS::S3::Bucket: VersioningConfiguration, PublicAccessBlockConfiguration, LifecycleConfiguration, OwnershipControls (checked statically by the template tests)")
}

func waitForStack(ctx context.Context, t *testing.T, cf *cfnapi.Client, name string) cfntypes.StackStatus {
	t.Helper()
	for {
		out, err := cf.DescribeStacks(ctx, &cfnapi.DescribeStacksInput{StackName: aws.String(name)})
		if err != nil {
			t.Fatalf("DescribeStacks: %v", err)
		}
		s := out.Stacks[0]
		if !strings.HasSuffix(string(s.StackStatus), "_IN_PROGRESS") {
			if s.StackStatus != cfntypes.StackStatusCreateComplete {
				events, _ := cf.DescribeStackEvents(ctx, &cfnapi.DescribeStackEventsInput{StackName: aws.String(name)})
				for _, e := range events.StackEvents {
					t.Logf("%s %s %s", aws.ToString(e.LogicalResourceId), e.ResourceStatus, aws.ToString(e.ResourceStatusReason))
				}
			}
			return s.StackStatus
		}
		select {
		case <-ctx.Done():
			t.Fatal(errors.Join(ctx.Err(), fmt.Errorf("stack %s still %s", name, s.StackStatus)))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

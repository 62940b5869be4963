package cfn

import (
	"github.com/awslabs/goformation/v7/cloudformation/iam"
)

// statement is one IAM policy statement. Resource is a string or a list of
// strings (intrinsics allowed).
type statement struct {
	Sid       string         `json:"Sid,omitempty"`
	Effect    string         `json:"Effect"`
	Principal map[string]any `json:"Principal,omitempty"`
	Action    []string       `json:"Action"`
	Resource  any            `json:"Resource,omitempty"`
	Condition map[string]any `json:"Condition,omitempty"`
}

func allow(sid string, resource any, actions ...string) statement {
	return statement{Sid: sid, Effect: "Allow", Action: actions, Resource: resource}
}

// anyResource is for the actions that support no resource-level
// permissions: IAM accepts only "*" for them. The template test lists every
// such action and fails on any other.
const anyResource = "*"

// policyDoc is an IAM policy document. Statements may be statement values or
// an iff(...) that includes one only under a condition.
func policyDoc(statements ...any) map[string]any {
	return map[string]any{"Version": "2012-10-17", "Statement": statements}
}

func assumeRole(service string) map[string]any {
	return policyDoc(statement{
		Effect:    "Allow",
		Principal: map[string]any{"Service": service},
		Action:    []string{"sts:AssumeRole"},
	})
}

// role is an IAM role with one inline policy; the role's name is left to
// CloudFormation so two stacks never collide (and CAPABILITY_IAM suffices).
func role(description, service string, statements ...any) *iam.Role {
	return &iam.Role{
		Description:              ptr(description),
		AssumeRolePolicyDocument: assumeRole(service),
		Policies: []iam.Role_Policy{{
			PolicyName:     "cpwarden",
			PolicyDocument: policyDoc(statements...),
		}},
	}
}

// ARN builders for the resources the workers touch.
func arn(service, resource string) string {
	return sub("arn:${AWS::Partition}:" + service + ":${AWS::Region}:${AWS::AccountId}:" + resource)
}

func asgArn() string {
	return arn("autoscaling", "autoScalingGroup:*:autoScalingGroupName/${"+pControlPlaneAsgName+"}")
}

func ssmParameterArn(path string) string {
	return arn("ssm", "parameter/${"+pClusterName+"}/"+path)
}

// backupBucketName is the bucket the stack created or the one it was given.
func backupBucketName() string {
	return iff(cCreateBucket, ref(lBackupBucket), ref(pExistingBucket))
}

func backupBucketArn() string {
	return subVars("arn:${AWS::Partition}:s3:::${Bucket}", map[string]any{"Bucket": backupBucketName()})
}

// backupObjectsArn covers the cluster's published backups only, not the
// whole bucket: <prefix><cluster>/*.
func backupObjectsArn() string {
	return subVars("arn:${AWS::Partition}:s3:::${Bucket}/${"+pBackupPrefix+"}${"+pClusterName+"}/*",
		map[string]any{"Bucket": backupBucketName()})
}

// stagingPrefix is where the backup step stages a snapshot until Verify
// publishes it (workers/backup): outside the backup prefix restore scripts
// read, since cluster names cannot start with '.'.
const stagingPrefix = "${" + pBackupPrefix + "}.cpwarden-staging/${" + pClusterName + "}/"

// stagingObjectsArn covers the cluster's staged snapshots.
func stagingObjectsArn() string {
	return subVars("arn:${AWS::Partition}:s3:::${Bucket}/"+stagingPrefix+"*", map[string]any{"Bucket": backupBucketName()})
}

// The statements each worker's role is made of.

func logsStatement(logGroup string) statement {
	return allow("WriteOwnLogs", sub("${"+logGroup+".Arn}"), "logs:CreateLogStream", "logs:PutLogEvents")
}

// vpcStatements let Lambda attach the function to the cluster's subnets.
// Describe calls support no resource-level permissions; the rest is limited
// to this account and region.
func vpcStatements() []any {
	return []any{
		allow("DescribeNetwork", anyResource, "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"),
		allow("ManageOwnNetworkInterfaces", []string{
			arn("ec2", "network-interface/*"),
			arn("ec2", "subnet/*"),
			arn("ec2", "security-group/*"),
		}, "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
			"ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"),
	}
}

func secretStatement(params ...string) []any {
	var res []string
	for _, p := range params {
		res = append(res, ref(p))
	}
	return []any{
		allow("ReadClusterSecrets", res, "secretsmanager:GetSecretValue"),
		iff(cHasSecretsKmsKey, statement{
			Sid: "DecryptClusterSecrets", Effect: "Allow", Action: []string{"kms:Decrypt"}, Resource: ref(pSecretsKmsKeyArn),
			Condition: map[string]any{"StringEquals": map[string]any{"kms:ViaService": sub("secretsmanager.${AWS::Region}.amazonaws.com")}},
		}, noValue),
	}
}

// discoveryStatement finds the control-plane instances (members, nodes).
// Neither action supports resource-level permissions. The older system's
// lifecycle role lacked DescribeAutoScalingGroups and so refused every
// termination; the roles that need it have it here.
func discoveryStatement() statement {
	return allow("DiscoverControlPlane", anyResource, "autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances")
}

// s3KmsStatements let a worker use the backup bucket's key through S3 only:
// the key the stack created, or the existing bucket's key when one is given.
func s3KmsStatements(actions ...string) []any {
	stmt := func(sid, key string) statement {
		return statement{
			Sid: sid, Effect: "Allow", Action: actions, Resource: key,
			Condition: map[string]any{"StringEquals": map[string]any{"kms:ViaService": sub("s3.${AWS::Region}.amazonaws.com")}},
		}
	}
	return []any{
		iff(cCreateBucket, stmt("BackupEncryption", getAtt(lBackupKey, "Arn")), noValue),
		iff(cHasExistingKmsKey, stmt("ExistingBucketEncryption", ref(pExistingBucketKmsKey)), noValue),
	}
}

// listBackupsStatement lists the cluster's backups (and, withStaging, its
// staged snapshots) and nothing else of the bucket.
func listBackupsStatement(withStaging bool) statement {
	prefixes := []string{sub("${" + pBackupPrefix + "}${" + pClusterName + "}/*")}
	if withStaging {
		prefixes = append(prefixes, sub(stagingPrefix+"*"))
	}
	s := allow("ListBackups", backupBucketArn(), "s3:ListBucket")
	s.Condition = map[string]any{"StringLike": map[string]any{"s3:prefix": prefixes}}
	return s
}

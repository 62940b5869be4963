package cfn

import (
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/kms"
	"github.com/awslabs/goformation/v7/cloudformation/policies"
	"github.com/awslabs/goformation/v7/cloudformation/s3"
)

const (
	lBackupBucket       = "BackupBucket"
	lBackupBucketPolicy = "BackupBucketPolicy"
	lBackupKey          = "BackupKey"
)

// addBucket creates the backup bucket and its key when no bucket is given.
// Both are retained when the stack is deleted: the backups are the only way
// back from a lost cluster.
func addBucket(t *cloudformation.Template) {
	t.Resources[lBackupKey] = &kms.Key{
		Description:       ptr(sub("cpwarden etcd backups of ${" + pClusterName + "}")),
		EnableKeyRotation: ptrB(true),
		// The account administers the key; the workers' roles get use of it
		// through their own policies (kms:ViaService s3 only).
		KeyPolicy: policyDoc(statement{
			Sid: "AccountAdministers", Effect: "Allow",
			Principal: map[string]any{"AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
			Action:    []string{"kms:*"}, Resource: anyResource,
		}),
		AWSCloudFormationCondition:           cCreateBucket,
		AWSCloudFormationDeletionPolicy:      policies.DeletionPolicy("Retain"),
		AWSCloudFormationUpdateReplacePolicy: policies.UpdateReplacePolicy("Retain"),
	}

	bucket := &s3.Bucket{
		VersioningConfiguration: &s3.Bucket_VersioningConfiguration{Status: "Enabled"},
		BucketEncryption: &s3.Bucket_BucketEncryption{ServerSideEncryptionConfiguration: []s3.Bucket_ServerSideEncryptionRule{{
			BucketKeyEnabled: ptrB(true),
			ServerSideEncryptionByDefault: &s3.Bucket_ServerSideEncryptionByDefault{
				SSEAlgorithm: "aws:kms", KMSMasterKeyID: ptr(getAtt(lBackupKey, "Arn")),
			},
		}}},
		PublicAccessBlockConfiguration: &s3.Bucket_PublicAccessBlockConfiguration{
			BlockPublicAcls: ptrB(true), BlockPublicPolicy: ptrB(true), IgnorePublicAcls: ptrB(true), RestrictPublicBuckets: ptrB(true),
		},
		OwnershipControls:                    &s3.Bucket_OwnershipControls{Rules: []s3.Bucket_OwnershipControlsRule{{ObjectOwnership: ptr("BucketOwnerEnforced")}}},
		AWSCloudFormationCondition:           cCreateBucket,
		AWSCloudFormationDeletionPolicy:      policies.DeletionPolicy("Retain"),
		AWSCloudFormationUpdateReplacePolicy: policies.UpdateReplacePolicy("Retain"),
	}
	// The prune worker applies the retention (newest N, hourly, daily,
	// weekly); the bucket's rules only clean up after it: versions it
	// pruned stay recoverable for a while, half-written uploads go.
	t.Resources[lBackupBucket] = withProps(bucket, map[string]any{
		"LifecycleConfiguration": map[string]any{"Rules": []any{
			map[string]any{
				"Id": "expire-pruned-versions", "Status": "Enabled",
				"NoncurrentVersionExpiration": map[string]any{"NoncurrentDays": ref(pNoncurrentVersionDays)},
				"ExpiredObjectDeleteMarker":   true,
			},
			map[string]any{
				"Id": "abort-incomplete-uploads", "Status": "Enabled",
				"AbortIncompleteMultipartUpload": map[string]any{"DaysAfterInitiation": 1},
			},
		}},
	})

	t.Resources[lBackupBucketPolicy] = &s3.BucketPolicy{
		Bucket: ref(lBackupBucket),
		PolicyDocument: policyDoc(statement{
			Sid: "DenyInsecureTransport", Effect: "Deny",
			Principal: map[string]any{"AWS": "*"},
			Action:    []string{"s3:*"},
			Resource:  []string{getAtt(lBackupBucket, "Arn"), sub("${" + lBackupBucket + ".Arn}/*")},
			Condition: map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
		}),
		AWSCloudFormationCondition: cCreateBucket,
	}
}

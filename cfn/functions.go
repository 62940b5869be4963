package cfn

import (
	"cmp"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/lambda"
	"github.com/awslabs/goformation/v7/cloudformation/logs"

	"github.com/cpwarden/cpwarden/internal/envnames"
	"github.com/cpwarden/cpwarden/workers"
)

// Logical IDs of the per-handler resources: "<Step>Function", "<Step>Role",
// "<Step>LogGroup" (Step = workers.Handler.Step()).
func functionID(h workers.Handler) string { return h.Step() + "Function" }
func roleID(h workers.Handler) string     { return h.Step() + "Role" }
func logGroupID(h workers.Handler) string { return h.Step() + "LogGroup" }

// FunctionName is the deployed name of handler h's function in the stack of
// cluster: the FunctionName metric dimension the workers emit.
func FunctionName(cluster string, h workers.Handler) string {
	return "cpwarden-" + cluster + "-" + string(h)
}

// functionNameSub is FunctionName as a Fn::Sub pattern.
func functionNameSub(h workers.Handler) string {
	return "cpwarden-${" + pClusterName + "}-" + string(h)
}

// defaultMemoryMiB is the memory of a function whose spec names none: the
// workers that only call AWS APIs or stream small documents.
const defaultMemoryMiB = 128

// spec is handler h's spec; every handler of workers.All has one.
func spec(h workers.Handler) workers.Spec {
	s, _ := workers.SpecOf(h)
	return s
}

// envValue is the template value of each environment variable.
func envValue(v envnames.Var) string {
	switch v {
	case envnames.ClusterName:
		return ref(pClusterName)
	case envnames.ControlPlaneASG:
		return ref(pControlPlaneAsgName)
	case envnames.EtcdTLSSecretARN:
		return ref(pEtcdTLSSecretArn)
	case envnames.EtcdEndpoints:
		return ref(pEtcdEndpoints)
	case envnames.EtcdClientPort:
		return ref(pEtcdClientPort)
	case envnames.KubeSecretARN:
		return ref(pKubeSecretArn)
	case envnames.DrainUnmanagedPods:
		return ref(pUnmanagedPods)
	case envnames.BackupBucket:
		return backupBucketName()
	case envnames.BackupPrefix:
		return ref(pBackupPrefix)
	case envnames.RetentionKeepLast:
		return ref(pRetentionKeepLast)
	case envnames.RetentionHourlyHours:
		return ref(pRetentionHourlyHours)
	case envnames.RetentionDailyDays:
		return ref(pRetentionDailyDays)
	case envnames.RetentionWeeklyWeeks:
		return ref(pRetentionWeeklyWeeks)
	case envnames.RecoveryThreshold:
		return ref(pRecoveryThreshold)
	case envnames.RecoveryCooldownSeconds:
		return ref(pRecoveryCooldown)
	case envnames.LogLevel:
		return ref(pLogLevel)
	}
	return ""
}

// permissions is what handler h's role may do besides writing its logs.
func permissions(h workers.Handler) []any {
	var s []any
	if spec(h).InVPC {
		s = append(s, vpcStatements()...)
	}
	// Reading published backups (the health workers look for the newest,
	// which is always a verified one).
	backupRead := append([]any{
		listBackupsStatement(false),
		allow("ReadBackups", backupObjectsArn(), "s3:GetObject"),
	}, s3KmsStatements("kms:Decrypt")...)
	recoveryParams := allow("RecoveryParameters",
		[]string{ssmParameterArn("health/*"), ssmParameterArn("cluster/*")},
		"ssm:GetParameter", "ssm:GetParameters", "ssm:PutParameter")
	switch h {
	case workers.Drain:
		s = append(s, secretStatement(pKubeSecretArn)...)
		s = append(s, allow("FindNode", anyResource, "ec2:DescribeInstances"))
	case workers.RemoveMember:
		s = append(s, secretStatement(pEtcdTLSSecretArn)...)
		s = append(s, discoveryStatement())
	case workers.CompleteLifecycle:
		s = append(s,
			allow("CompleteLifecycleAction", asgArn(), "autoscaling:CompleteLifecycleAction"),
			// Reads the group's retention policy to report what ABANDON does.
			allow("DescribeGroup", anyResource, "autoscaling:DescribeAutoScalingGroups"))
	case workers.LifecycleHeartbeat:
		s = append(s, allow("RecordLifecycleActionHeartbeat", asgArn(), "autoscaling:RecordLifecycleActionHeartbeat"))
	case workers.Backup:
		// Streams a multipart upload to the staging key only.
		s = append(s, secretStatement(pEtcdTLSSecretArn)...)
		s = append(s, discoveryStatement(),
			allow("StageSnapshot", stagingObjectsArn(), "s3:PutObject", "s3:AbortMultipartUpload"))
		s = append(s, s3KmsStatements("kms:GenerateDataKey", "kms:Decrypt")...)
	case workers.VerifyBackup:
		// Reads the staged snapshot, publishes it under the backup key,
		// deletes the staged copy; can re-verify a published backup.
		s = append(s,
			allow("ReadSnapshots", []string{stagingObjectsArn(), backupObjectsArn()}, "s3:GetObject"),
			allow("PublishVerified", backupObjectsArn(), "s3:PutObject", "s3:AbortMultipartUpload"),
			allow("RemoveStaged", stagingObjectsArn(), "s3:DeleteObject"))
		s = append(s, s3KmsStatements("kms:GenerateDataKey", "kms:Decrypt")...)
	case workers.PruneBackups:
		// Applies retention to published backups and removes stale staged
		// snapshots; never writes.
		s = append(s, listBackupsStatement(true),
			allow("PruneBackups", []string{backupObjectsArn(), stagingObjectsArn()}, "s3:DeleteObject"))
	case workers.HealthProbe:
		s = append(s, secretStatement(pEtcdTLSSecretArn, pKubeSecretArn)...)
		s = append(s, discoveryStatement(), recoveryParams)
		s = append(s, backupRead...)
	case workers.TriggerRecovery:
		s = append(s, recoveryParams)
		s = append(s, backupRead...)
	case workers.ReportRecovered:
		s = append(s, recoveryParams)
	}
	return s
}

func addFunctions(t *cloudformation.Template) {
	for _, h := range workers.All {
		t.Resources[logGroupID(h)] = withProps(&logs.LogGroup{
			LogGroupName: ptr(sub("/aws/lambda/" + functionNameSub(h))),
		}, map[string]any{"RetentionInDays": ref(pLogRetentionDays)})

		statements := append([]any{logsStatement(logGroupID(h))}, permissions(h)...)
		t.Resources[roleID(h)] = role("cpwarden "+string(h)+" worker", "lambda.amazonaws.com", statements...)

		env := map[string]string{}
		for _, v := range workers.EnvOf(h) {
			env[string(v)] = envValue(v)
		}
		fn := &lambda.Function{
			FunctionName:  ptr(sub(functionNameSub(h))),
			Description:   ptr("cpwarden worker " + string(h)),
			Handler:       ptr(string(h)),
			Runtime:       ptr("provided.al2023"),
			Architectures: []string{"arm64"},
			Code:          &lambda.Function_Code{S3Bucket: ptr(ref(pCodeS3Bucket)), S3Key: ptr(ref(pCodeS3Key))},
			Role:          getAtt(roleID(h), "Arn"),
			Timeout:       ptrI(spec(h).TimeoutSeconds),
			MemorySize:    ptrI(cmp.Or(spec(h).MemoryMiB, defaultMemoryMiB)),
			Environment:   &lambda.Function_Environment{Variables: env},
			LoggingConfig: &lambda.Function_LoggingConfig{LogFormat: ptr("Text"), LogGroup: ptr(ref(logGroupID(h)))},
		}
		if tmp := spec(h).TmpMiB; tmp > 0 {
			fn.EphemeralStorage = &lambda.Function_EphemeralStorage{Size: tmp}
		}
		if spec(h).InVPC {
			t.Resources[functionID(h)] = withProps(fn, map[string]any{
				"VpcConfig": map[string]any{"SubnetIds": ref(pSubnetIds), "SecurityGroupIds": ref(pSecurityGroupIds)},
			})
			continue
		}
		t.Resources[functionID(h)] = fn
	}
}

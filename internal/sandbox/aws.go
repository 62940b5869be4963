package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/cpwarden/cpwarden/internal/sandbox/moto"
)

// seedAWS creates the control-plane network, instances, group and hook in
// moto, and the workers' secrets and recovery parameters.
func (sb *Sandbox) seedAWS(ctx context.Context) error {
	// Seeding talks to moto directly: the stand-in only matters to the
	// workers.
	cfg := moto.Config(sb.Moto.Endpoint)
	ec2c, asg := ec2.NewFromConfig(cfg), autoscaling.NewFromConfig(cfg)

	vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("127.0.0.0/16")})
	if err != nil {
		return fmt.Errorf("create VPC: %w", err)
	}
	subnet, err := ec2c.CreateSubnet(ctx, &ec2.CreateSubnetInput{
		VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("127.0.0.0/24"), AvailabilityZone: aws.String(zone),
	})
	if err != nil {
		return fmt.Errorf("create subnet: %w", err)
	}
	lt := sb.ClusterName + "-control-plane"
	if _, err := ec2c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(lt),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(moto.AMI), InstanceType: ec2types.InstanceTypeT3Large},
	}); err != nil {
		return fmt.Errorf("create launch template: %w", err)
	}
	// Instances are launched one by one with the address of their etcd
	// member, then attached: a group launching them itself would pick
	// addresses of its own.
	var ids []string
	for i := range sb.Instances {
		in := &sb.Instances[i]
		out, err := ec2c.RunInstances(ctx, &ec2.RunInstancesInput{
			ImageId: aws.String(moto.AMI), InstanceType: ec2types.InstanceTypeT3Large,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			SubnetId: subnet.Subnet.SubnetId, PrivateIpAddress: aws.String(in.PrivateIP),
			TagSpecifications: []ec2types.TagSpecification{{
				ResourceType: ec2types.ResourceTypeInstance,
				Tags: []ec2types.Tag{
					{Key: aws.String("Name"), Value: aws.String(fmt.Sprintf("%s-control-plane-%d", sb.ClusterName, i))},
					{Key: aws.String("kubernetes.io/cluster/" + sb.ClusterName), Value: aws.String("owned")},
				},
			}},
		})
		if err != nil {
			return fmt.Errorf("run instance %s: %w", in.PrivateIP, err)
		}
		got := out.Instances[0]
		if ip, dns := aws.ToString(got.PrivateIpAddress), aws.ToString(got.PrivateDnsName); ip != in.PrivateIP || dns != in.PrivateDNSName {
			return fmt.Errorf("moto gave instance %s address %s and name %s, want %s and %s",
				aws.ToString(got.InstanceId), ip, dns, in.PrivateIP, in.PrivateDNSName)
		}
		in.ID = aws.ToString(got.InstanceId)
		if got.Placement != nil && got.Placement.AvailabilityZone != nil {
			in.AvailabilityZone = *got.Placement.AvailabilityZone
		}
		ids = append(ids, in.ID)
	}
	// MinSize 0: the sandbox terminates an instance with its desired
	// capacity decremented and launches no replacement (a replacement would
	// get an address of moto's choosing, and no etcd member).
	if _, err := asg.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(sb.Group),
		MinSize:              aws.Int32(0), MaxSize: aws.Int32(int32(len(sb.Instances))), DesiredCapacity: aws.Int32(0),
		LaunchTemplate:    &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String(lt), Version: aws.String("$Latest")},
		VPCZoneIdentifier: subnet.Subnet.SubnetId,
	}); err != nil {
		return fmt.Errorf("create Auto Scaling group: %w", err)
	}
	if _, err := asg.AttachInstances(ctx, &autoscaling.AttachInstancesInput{AutoScalingGroupName: aws.String(sb.Group), InstanceIds: ids}); err != nil {
		return fmt.Errorf("attach instances: %w", err)
	}
	if _, err := asg.PutLifecycleHook(ctx, &autoscaling.PutLifecycleHookInput{
		AutoScalingGroupName: aws.String(sb.Group),
		LifecycleHookName:    aws.String(sb.Hook),
		LifecycleTransition:  aws.String("autoscaling:EC2_INSTANCE_TERMINATING"),
		HeartbeatTimeout:     aws.Int32(1200),
		DefaultResult:        aws.String("ABANDON"),
	}); err != nil {
		return fmt.Errorf("put lifecycle hook: %w", err)
	}

	sm := secretsmanager.NewFromConfig(cfg)
	etcdSecret, err := sb.etcdSecret()
	if err != nil {
		return err
	}
	s, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String("cpwarden/" + sb.ClusterName + "/etcd-client-tls"),
		Description:  aws.String("etcd client certificate, key and CA of the cpwarden workers"),
		SecretString: aws.String(string(etcdSecret)),
	})
	if err != nil {
		return fmt.Errorf("create etcd TLS secret: %w", err)
	}
	sb.EtcdTLSSecretARN = aws.ToString(s.ARN)

	p := ssm.NewFromConfig(cfg)
	for name, value := range map[string]string{
		"/" + sb.ClusterName + "/health/failure-count": "0",
		"/" + sb.ClusterName + "/cluster/restore-mode": "false",
		"/" + sb.ClusterName + "/cluster/initialized":  "true",
	} {
		if _, err := p.PutParameter(ctx, &ssm.PutParameterInput{
			Name: aws.String(name), Value: aws.String(value), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true),
		}); err != nil {
			return fmt.Errorf("put parameter %s: %w", name, err)
		}
	}
	return nil
}

// putKubeSecret stores the drain ServiceAccount's credentials as the
// workers' Kubernetes secret (internal/secrets format).
func (sb *Sandbox) putKubeSecret(ctx context.Context, token string) error {
	v, err := json.Marshal(map[string]string{"endpoint": sb.Kube.URL, "ca": string(sb.Kube.CACert), "token": token})
	if err != nil {
		return err
	}
	sm := secretsmanager.NewFromConfig(moto.Config(sb.Moto.Endpoint))
	s, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String("cpwarden/" + sb.ClusterName + "/kube-api"),
		Description:  aws.String("Kubernetes API endpoint, CA and ServiceAccount token of the cpwarden workers"),
		SecretString: aws.String(string(v)),
	})
	if err != nil {
		return fmt.Errorf("create Kubernetes secret: %w", err)
	}
	sb.KubeSecretARN = aws.ToString(s.ARN)
	return nil
}

// LifecycleEvent is the EventBridge event Auto Scaling sends when a
// terminate lifecycle hook fires (docs/contracts.md, "Events in").
type LifecycleEvent struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     LifecycleDetail `json:"detail"`
}

// LifecycleDetail is the event's detail.
type LifecycleDetail struct {
	LifecycleActionToken string `json:"LifecycleActionToken"`
	AutoScalingGroupName string `json:"AutoScalingGroupName"`
	LifecycleHookName    string `json:"LifecycleHookName"`
	EC2InstanceID        string `json:"EC2InstanceId"`
	LifecycleTransition  string `json:"LifecycleTransition"`
	Origin               string `json:"Origin"`
	Destination          string `json:"Destination"`
}

// BeginTermination does what Auto Scaling does when it decides to
// terminate instanceID and the group's terminate hook holds it: the
// instance's lifecycle action becomes pending (the stand-in then accepts
// heartbeats and the completion) and the EventBridge event that starts the
// lifecycle workflow is returned. Completing the action terminates the
// instance (and stops its etcd member, which dies with it).
func (sb *Sandbox) BeginTermination(instanceID string) (LifecycleEvent, error) {
	if _, ok := sb.Instance(instanceID); !ok {
		return LifecycleEvent{}, fmt.Errorf("sandbox: no control-plane instance %s", instanceID)
	}
	a := sb.standIn.begin(sb.Group, sb.Hook, instanceID)
	return LifecycleEvent{
		Version:    "0",
		ID:         newToken(),
		DetailType: "EC2 Instance-terminate Lifecycle Action",
		Source:     "aws.autoscaling",
		Account:    "123456789012",
		Time:       a.Started.Format(time.RFC3339),
		Region:     moto.Region,
		Resources:  []string{"arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:" + newToken() + ":autoScalingGroupName/" + sb.Group},
		Detail: LifecycleDetail{
			LifecycleActionToken: a.Token,
			AutoScalingGroupName: sb.Group,
			LifecycleHookName:    sb.Hook,
			EC2InstanceID:        instanceID,
			LifecycleTransition:  "autoscaling:EC2_INSTANCE_TERMINATING",
			Origin:               "AutoScalingGroup",
			Destination:          "EC2",
		},
	}, nil
}

// PendingLifecycleActions lists the actions no one has completed yet.
func (sb *Sandbox) PendingLifecycleActions() []LifecycleAction { return sb.standIn.pending() }

// CompletedLifecycleActions lists the completed actions, oldest first.
func (sb *Sandbox) CompletedLifecycleActions() []LifecycleCompletion {
	return sb.standIn.completions()
}

// afterCompletion terminates the instance of a completed action, as Auto
// Scaling does after CONTINUE (and after ABANDON on a terminate hook), and
// stops its etcd member, which goes with the instance.
func (sb *Sandbox) afterCompletion(ctx context.Context, c LifecycleCompletion) error {
	in, ok := sb.Instance(c.InstanceID)
	if ok {
		if err := sb.Etcd.Stop(in.PrivateDNSName); err != nil {
			sb.log.Warn("stop etcd member of terminated instance", "member", in.PrivateDNSName, "err", err)
		}
	}
	asg := autoscaling.NewFromConfig(moto.Config(sb.Moto.Endpoint))
	_, err := asg.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId:                     aws.String(c.InstanceID),
		ShouldDecrementDesiredCapacity: aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("terminate %s: %w", c.InstanceID, err)
	}
	sb.log.Info("lifecycle action completed; instance terminated", "instance", c.InstanceID, "result", c.Result, "heartbeats", c.Heartbeats)
	return nil
}

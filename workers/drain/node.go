package drain

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cpwarden/cpwarden/internal/awsfault"
	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/internal/instanceid"
)

// Instances is the part of the EC2 API the worker uses to learn an
// instance's private DNS name; the SDK's *ec2.Client satisfies it.
type Instances interface {
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
}

// hostnameLabel is the well-known label the kubelet sets to its host name.
const hostnameLabel = "kubernetes.io/hostname"

// findNode returns the instance's node, or nil when it has none. In order:
// a node whose spec.providerID names the instance (aws:///<az>/<id>); the
// node named in the input; a node whose name or hostname label is the
// instance's EC2 private DNS name. A node whose providerID names another
// instance is never taken, whatever its name.
func (w *Worker) findNode(ctx context.Context, v input) (*corev1.Node, error) {
	var nodes []corev1.Node
	opts := metav1.ListOptions{Limit: 500}
	for {
		list, err := w.deps.Kube.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return nil, classifyKube(err, "list nodes")
		}
		nodes = append(nodes, list.Items...)
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	if v.instanceID != "" {
		for i := range nodes {
			if providerInstance(nodes[i].Spec.ProviderID) == v.instanceID {
				return &nodes[i], nil
			}
		}
	}
	eligible := func(n *corev1.Node) bool {
		id := providerInstance(n.Spec.ProviderID)
		return id == "" || v.instanceID == "" || id == v.instanceID
	}
	if v.nodeName != "" {
		for i := range nodes {
			if nodes[i].Name == v.nodeName {
				if !eligible(&nodes[i]) {
					return nil, faults.New(faults.InputInvalid, "drain: node %s belongs to instance %s, not %s",
						v.nodeName, providerInstance(nodes[i].Spec.ProviderID), v.instanceID)
				}
				return &nodes[i], nil
			}
		}
	}
	if v.instanceID == "" || w.deps.EC2 == nil {
		return nil, nil
	}
	dns, err := w.privateDNSName(ctx, v.instanceID)
	if err != nil || dns == "" {
		return nil, err
	}
	short, _, _ := strings.Cut(dns, ".")
	for i := range nodes {
		n := &nodes[i]
		if !eligible(n) {
			continue
		}
		for _, name := range []string{n.Name, n.Labels[hostnameLabel]} {
			if name != "" && (strings.EqualFold(name, dns) || strings.EqualFold(name, short)) {
				return n, nil
			}
		}
	}
	return nil, nil
}

// providerInstance returns the instance id of an AWS providerID
// ("aws:///us-east-1a/i-0123…"), or "" for any other.
func providerInstance(providerID string) string {
	rest, ok := strings.CutPrefix(providerID, "aws://")
	if !ok {
		return ""
	}
	i := strings.LastIndexByte(rest, '/')
	id := rest[i+1:]
	if !instanceid.Valid(id) {
		return ""
	}
	return id
}

// privateDNSName returns the instance's private DNS name, or "" when EC2 no
// longer knows the instance.
func (w *Worker) privateDNSName(ctx context.Context, id string) (string, error) {
	out, err := w.deps.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		if awsfault.IsNotFound(err) {
			return "", nil
		}
		return "", awsfault.Wrap(err, "describe instance "+id)
	}
	for _, r := range out.Reservations {
		for _, inst := range r.Instances {
			if aws.ToString(inst.InstanceId) == id {
				return aws.ToString(inst.PrivateDnsName), nil
			}
		}
	}
	return "", nil
}

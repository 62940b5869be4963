package drain

import _ "embed"

//go:embed rbac.yaml
var rbacManifest string

// RBACManifest returns the minimal RBAC the worker needs (a ServiceAccount,
// a ClusterRole and its ClusterRoleBinding) as a multi-document YAML
// manifest. The same bytes are shipped to operators and applied by the
// tests that drain under it.
func RBACManifest() string { return rbacManifest }

// ServiceAccount is the namespace and name of the ServiceAccount the
// manifest binds.
const (
	ServiceAccountNamespace = "kube-system"
	ServiceAccountName      = "cpwarden-drain"
)

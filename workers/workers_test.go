package workers

import "testing"

func TestStepIsPascalCase(t *testing.T) {
	tests := map[Handler]string{
		Drain:              "Drain",
		RemoveMember:       "RemoveMember",
		LifecycleHeartbeat: "LifecycleHeartbeat",
		Backup:             "TakeBackup",
		HealthProbe:        "HealthProbe",
	}
	for h, want := range tests {
		if got := h.Step(); got != want {
			t.Errorf("%s.Step() = %q, want %q", h, got, want)
		}
	}
}

func TestNamespacesFollowContracts(t *testing.T) {
	tests := map[Handler]string{
		Drain:           "K8sCluster/EtcdLifecycle",
		RemoveMember:    "K8sCluster/EtcdLifecycle",
		Backup:          "K8sCluster/EtcdBackup",
		PruneBackups:    "K8sCluster/EtcdBackup",
		TriggerRecovery: "K8sCluster/Health",
	}
	for h, want := range tests {
		if got := h.Namespace(); got != want {
			t.Errorf("%s.Namespace() = %q, want %q", h, got, want)
		}
	}
}

func TestEveryHandlerIsValidAndUnique(t *testing.T) {
	seen := map[Handler]bool{}
	for _, h := range All {
		if !h.Valid() || seen[h] {
			t.Fatalf("handler %q invalid or duplicated", h)
		}
		seen[h] = true
	}
	if Handler("nope").Valid() {
		t.Fatal("unknown handler reported valid")
	}
}

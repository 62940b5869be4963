package faults

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestNameFindsOutermostClassification(t *testing.T) {
	base := errors.New("dial tcp 127.0.0.2:2379: connection refused")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"unclassified", base, Internal},
		{"classified", Wrap(EtcdUnavailable, base, "status of member m1"), EtcdUnavailable},
		{"wrapped by fmt", fmt.Errorf("remove: %w", Wrap(EtcdQuorumAtRisk, base, "projection")), EtcdQuorumAtRisk},
		{"outermost wins", Wrap(InputInvalid, Wrap(EtcdUnavailable, base, "inner"), "outer"), InputInvalid},
		{"New", New(DrainIncomplete, "%d pods left", 3), DrainIncomplete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Name(tt.err); got != tt.want {
				t.Fatalf("Name() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewWithPercentWKeepsChain(t *testing.T) {
	err := New(EtcdUnavailable, "status: %w", context.DeadlineExceeded)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("chain lost: %v", err)
	}
	if got, want := err.Error(), "status: context deadline exceeded"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestWrapNilIsNil(t *testing.T) {
	if err := Wrap(InputInvalid, nil, "x"); err != nil {
		t.Fatalf("Wrap(nil) = %v", err)
	}
}

func TestErrorMessageIncludesCause(t *testing.T) {
	err := Wrap(BackupCorrupt, errors.New("sha256 mismatch"), "verify k1")
	if got, want := err.Error(), "verify k1: sha256 mismatch"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if !Is(err, BackupCorrupt) || Is(err, InputInvalid) {
		t.Fatal("Is misclassified")
	}
}

package service

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

// TestFinalizersChanged checks which Service updates that keep the
// generation still wake the reconciler up.
func TestFinalizersChanged(t *testing.T) {
	now := metav1.Now()
	svc := func(deleted bool, finalizers ...string) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Finalizers: finalizers}}
		if deleted {
			s.DeletionTimestamp = &now
		}
		return s
	}
	tests := []struct {
		name     string
		old, new *corev1.Service
		want     bool
	}{
		{"status write", svc(false, Finalizer), svc(false, Finalizer), false},
		{"deletion starts", svc(false, Finalizer), svc(true, Finalizer), true},
		{"finalizer added", svc(false), svc(false, Finalizer), false},
		{"finalizer removed", svc(false, Finalizer), svc(false), true},
		{"finalizers reordered", svc(false, "other", Finalizer), svc(false, Finalizer, "other"), false},
		{"another finalizer removed while deleting", svc(true, "other", Finalizer), svc(true, Finalizer), true},
		{"deleted, nothing else changed", svc(true, Finalizer), svc(true, Finalizer), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (finalizersChanged{}).Update(event.UpdateEvent{ObjectOld: tt.old, ObjectNew: tt.new}); got != tt.want {
				t.Errorf("Update = %v, want %v", got, tt.want)
			}
		})
	}
}

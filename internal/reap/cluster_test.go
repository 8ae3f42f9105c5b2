package reap

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCleanupTargets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		listing string
		want    []clusterObject
	}{
		{"empty cluster", `{"kind":"List","items":[]}`, nil},
		{"only in-cluster services", `{"items":[
			{"kind":"Service","metadata":{"name":"hello","namespace":"student-alice"},"spec":{"type":"ClusterIP"}},
			{"kind":"Service","metadata":{"name":"np","namespace":"student-alice"},"spec":{"type":"NodePort"}},
			{"kind":"Service","metadata":{"name":"ext","namespace":"student-bob"},"spec":{"type":"ExternalName"}}]}`, nil},
		{"load balancers, ingresses and claims, ingresses first and claims last", `{"items":[
			{"kind":"PersistentVolumeClaim","metadata":{"name":"data","namespace":"student-alice"},"spec":{"volumeName":"pvc-123"}},
			{"kind":"Service","metadata":{"name":"web","namespace":"student-alice"},"spec":{"type":"LoadBalancer"}},
			{"kind":"Service","metadata":{"name":"hello","namespace":"student-alice"},"spec":{"type":"ClusterIP"}},
			{"kind":"PersistentVolumeClaim","metadata":{"name":"pending","namespace":"student-bob"},"spec":{}},
			{"kind":"Ingress","metadata":{"name":"site","namespace":"student-bob"},"spec":{}},
			{"kind":"Service","metadata":{"name":"ingress-nginx-controller","namespace":"ingress-nginx"},"spec":{"type":"LoadBalancer"}}]}`,
			[]clusterObject{
				{Kind: "ingress", Namespace: "student-bob", Name: "site"},
				{Kind: "service", Namespace: "student-alice", Name: "web"},
				{Kind: "service", Namespace: "ingress-nginx", Name: "ingress-nginx-controller"},
				{Kind: "persistentvolumeclaim", Namespace: "student-alice", Name: "data", Volume: "pvc-123"},
				{Kind: "persistentvolumeclaim", Namespace: "student-bob", Name: "pending"},
			}},
		{"other kinds are never deleted", `{"items":[{"kind":"ConfigMap","metadata":{"name":"x","namespace":"y"}}]}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := cleanupTargets([]byte(tc.listing))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	_, err := cleanupTargets([]byte("error: the server doesn't have a resource type"))
	require.ErrorContains(t, err, "reading the cluster's object list")
}

func TestClusterKubeconfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		outputs map[string]any
		want    bool
	}{
		{"gke stack", map[string]any{"env": "training", "kubeconfig": "apiVersion: v1\n"}, true},
		{"no cluster", map[string]any{"env": "training"}, false},
		{"empty kubeconfig", map[string]any{"kubeconfig": "  "}, false},
		{"not a string", map[string]any{"kubeconfig": 3.0}, false},
		{"no outputs", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, ok := clusterKubeconfig(tc.outputs)
			assert.Equal(t, tc.want, ok)
		})
	}
}

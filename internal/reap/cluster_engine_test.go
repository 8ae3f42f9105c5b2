package reap

// The cluster cleanup for real: a training stack whose outputs hold the kubeconfig of a real API server
// (internal/k8stest) is reaped by the real engine; what students left that would outlive the cluster must be
// gone before the destroy, and what makes nothing outside the cluster must be left alone.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deploylab/deploylab/internal/k8stest"
	"github.com/deploylab/deploylab/internal/testutil"
)

const leftovers = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: lesson}
spec: {type: LoadBalancer, selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: hello, namespace: lesson}
spec: {selector: {app: hello}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: site, namespace: lesson}
spec: {defaultBackend: {service: {name: hello, port: {number: 80}}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: lesson}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
`

func TestReapCleansTheClusterFirst(t *testing.T) {
	cp := k8stest.Start(t)
	testutil.UseRealEngine(t, cp.BinDirs...)
	admin := cp.AdminKubeconfigPath
	_, err := cp.Kubectl(admin, "create", "namespace", "lesson")
	require.NoError(t, err)
	manifest := filepath.Join(t.TempDir(), "leftovers.yaml")
	require.NoError(t, os.WriteFile(manifest, []byte(leftovers), 0o600))
	_, err = cp.Kubectl(admin, "apply", "-f", manifest)
	require.NoError(t, err)

	unreachable := strings.Replace(cp.AdminKubeconfig, cp.Server, "https://127.0.0.1:1", 1)
	deploy(t, []fixture{
		{name: "class", outputs: map[string]string{"env": "training", "expiresAt": "2030-01-01T00:00:00Z", "kubeconfig": cp.AdminKubeconfig}},
		{name: "class-gone", outputs: map[string]string{"env": "training", "expiresAt": "2030-01-01T00:00:00Z", "kubeconfig": unreachable}},
	})

	stdout, _, code := runReap("--now", "2030-01-01T12:00:00Z")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, parseTable(t, stdout)["class"].reason, "would first delete its cluster's load balancers")

	stdout, stderr, code := runReap("--now", "2030-01-01T12:00:00Z", "--yes", "--parallel", "1")
	t.Logf("reap:\n%s\n%s", stdout, stderr)
	assert.Equal(t, exitFailed, code, "the unreachable cluster's stack must fail the run")
	rows := parseTable(t, stdout)
	assert.Equal(t, "destroyed", rows["class"].action)
	assert.Contains(t, rows["class"].reason, "cluster cleaned first")
	assert.Equal(t, "cleanup-failed", rows["class-gone"].action)
	assert.Contains(t, rows["class-gone"].reason, "listing what students left in the cluster")
	assert.Contains(t, rows["class-gone"].reason, "connection to the server 127.0.0.1:1 was refused", "kubectl's verdict, not its retries")
	assert.NotContains(t, rows["class-gone"].reason, "cleaned first")

	left, err := cp.Kubectl(admin, "get", "services,ingresses,persistentvolumeclaims", "-n", "lesson", "-o", "name")
	require.NoError(t, err)
	assert.Equal(t, "service/hello", strings.TrimSpace(left), "only the ClusterIP Service may remain")
	assert.Equal(t, map[string]int{"class-gone": 2}, stacksInBackend(t),
		"the cleaned stack is removed; the one whose cluster could not be cleaned is kept, not destroyed")
}

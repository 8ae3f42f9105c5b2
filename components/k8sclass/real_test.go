package k8sclass

// The real layer: the class is applied by the real Pulumi engine and pulumi-kubernetes provider to a real
// kube-apiserver on 127.0.0.1 (internal/k8stest), each student's access is checked there with kubectl, and
// `pulumi destroy` must remove it all.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deploylab/deploylab/internal/k8stest"
	"github.com/deploylab/deploylab/internal/testutil"
)

// testQuota is small enough that one pod can exceed it.
var testQuota = Quota{CPU: "500m", Memory: "512Mi", Pods: 4, Services: 3, LoadBalancers: 1, PVCs: 1, Storage: "1Gi"}

func TestClassOnARealAPIServer(t *testing.T) {
	cp := k8stest.Start(t)
	testutil.UseRealEngine(t, cp.BinDirs...)
	ctx := context.Background()

	program := func(ctx *pulumi.Context) error {
		class, err := NewClass(ctx, "class", &ClassArgs{
			Students:      []string{"alice", "bob"},
			Kubeconfig:    pulumi.ToSecret(pulumi.String(cp.AdminKubeconfig)).(pulumi.StringOutput),
			Server:        pulumi.String(cp.Server),
			CACertificate: pulumi.String(cp.CAData),
			Quota:         testQuota,
			SkipAwait:     true, // no kubelet here: the sample app's pods stay Pending
		})
		if err != nil {
			return err
		}
		ctx.Export("kubeconfigs", class.Kubeconfigs)
		ctx.Export("namespaces", class.Namespaces)
		return nil
	}
	stack, err := auto.UpsertStackInlineSource(ctx, "class", "deploylab-k8sclass-test", program, auto.WorkDir(t.TempDir()))
	require.NoError(t, err)
	up, err := stack.Up(ctx)
	require.NoError(t, err, "pulumi up")

	require.True(t, up.Outputs["kubeconfigs"].Secret, "the kubeconfigs output must be a secret")
	kubeconfigs := up.Outputs["kubeconfigs"].Value.(map[string]any)
	assert.Equal(t, map[string]any{"alice": "student-alice", "bob": "student-bob"}, up.Outputs["namespaces"].Value)
	files := map[string]string{}
	for _, who := range []string{"alice", "bob"} {
		files[who] = filepath.Join(t.TempDir(), who+".kubeconfig")
		require.NoError(t, os.WriteFile(files[who], []byte(kubeconfigs[who].(string)), 0o600))
	}
	admin := cp.AdminKubeconfigPath

	t.Run("objects", func(t *testing.T) {
		out, err := cp.Kubectl(admin, "get", "namespace", "student-alice", "-o", "jsonpath={.metadata.labels}")
		require.NoError(t, err)
		assert.Contains(t, out, `"pod-security.kubernetes.io/enforce":"baseline"`)
		for _, kind := range []string{"deployment/hello", "service/hello", "resourcequota/student-quota", "limitrange/student-limits",
			"networkpolicy/default-deny-ingress", "networkpolicy/allow-same-namespace", "role/student", "rolebinding/student", "serviceaccount/alice"} {
			_, err := cp.Kubectl(admin, "get", "-n", "student-alice", kind)
			assert.NoError(t, err, kind)
		}
		out, err = cp.Kubectl(admin, "get", "deployment", "hello", "-n", "student-bob", "-o", "jsonpath={.metadata.annotations}")
		require.NoError(t, err)
		assert.Contains(t, out, `"pulumi.com/skipAwait":"true"`)
	})

	// RBAC as the API server decides it, asked by the admin on alice's behalf.
	t.Run("can-i", func(t *testing.T) {
		const alice = "system:serviceaccount:student-alice:alice"
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"create", "deployments", "-n", "student-alice"}, "yes"},
			{[]string{"delete", "pods", "-n", "student-alice"}, "yes"},
			{[]string{"create", "networkpolicies", "-n", "student-alice"}, "yes"},
			{[]string{"get", "secrets", "-n", "student-alice"}, "yes"},
			{[]string{"update", "resourcequotas", "-n", "student-alice"}, "no"},
			{[]string{"create", "rolebindings", "-n", "student-alice"}, "no"},
			{[]string{"get", "pods", "-n", "student-bob"}, "no"},
			{[]string{"create", "deployments", "-n", "student-bob"}, "no"},
			{[]string{"get", "secrets", "-n", "kube-system"}, "no"},
			{[]string{"create", "namespaces"}, "no"},
			{[]string{"create", "clusterrolebindings"}, "no"},
			{[]string{"delete", "nodes"}, "no"},
			{[]string{"list", "nodes"}, "yes"},
			{[]string{"list", "namespaces"}, "yes"},
		} {
			out, _ := cp.Kubectl(admin, append([]string{"auth", "can-i", "--as", alice}, tc.args...)...)
			// The answer is the last line; kubectl warns first about cluster-scoped resources.
			assert.Equal(t, tc.want, lastLine(out), "can alice %v?", tc.args)
		}
	})

	// The student's own kubeconfig, as they would use it from their host.
	t.Run("own kubeconfig", func(t *testing.T) {
		out, err := cp.Kubectl(files["alice"], "get", "deployments")
		require.NoError(t, err, "alice lists her own namespace (the context's default)")
		assert.Contains(t, out, "hello")
		out, err = cp.Kubectl(files["alice"], "auth", "can-i", "create", "deployments")
		require.NoError(t, err)
		assert.Equal(t, "yes", lastLine(out))
		_, err = cp.Kubectl(files["alice"], "create", "configmap", "notes", "--from-literal=k=v")
		require.NoError(t, err, "alice creates in her namespace")

		out, err = cp.Kubectl(files["alice"], "get", "pods", "-n", "student-bob")
		require.Error(t, err, "alice must not read bob's namespace")
		assert.Contains(t, out, "Forbidden")
		out, err = cp.Kubectl(files["bob"], "delete", "configmap", "notes", "-n", "student-alice")
		require.Error(t, err, "bob must not delete in alice's namespace")
		assert.Contains(t, out, "Forbidden")
		out, err = cp.Kubectl(files["alice"], "create", "namespace", "alice-extra")
		require.Error(t, err, "alice must not create namespaces")
		assert.Contains(t, out, "Forbidden")
		out, err = cp.Kubectl(files["alice"], "create", "clusterrolebinding", "me-admin", "--clusterrole=cluster-admin",
			"--serviceaccount=student-alice:alice")
		require.Error(t, err, "alice must not grant herself cluster-admin")
		assert.Contains(t, out, "is forbidden")
		_, err = cp.Kubectl(files["alice"], "get", "nodes")
		require.NoError(t, err, "the read-only node view a lesson needs")
	})

	t.Run("quota enforced", func(t *testing.T) {
		// Over the namespace's CPU: refused by the ResourceQuota or the LimitRange's max, both real admission.
		out, err := cp.Kubectl(files["alice"], "run", "greedy", "--image=busybox", "--restart=Never",
			"--overrides", `{"spec":{"containers":[{"name":"greedy","image":"busybox","resources":{"requests":{"cpu":"2"},"limits":{"cpu":"2"}}}]}}`)
		require.Error(t, err, "a pod over the quota must be refused")
		assert.Regexp(t, `exceeded quota|maximum cpu usage`, out)
		// A pod without resources gets the LimitRange's defaults and is admitted.
		_, err = cp.Kubectl(files["alice"], "run", "small", "--image=busybox", "--restart=Never")
		require.NoError(t, err)
		out, err = cp.Kubectl(files["alice"], "get", "pod", "small", "-o", "jsonpath={.spec.containers[0].resources.requests.cpu}")
		require.NoError(t, err)
		assert.Equal(t, "50m", out)
		// A second load balancer is over services.loadbalancers=1.
		_, err = cp.Kubectl(files["alice"], "create", "service", "loadbalancer", "lb1", "--tcp=80:8080")
		require.NoError(t, err)
		out, err = cp.Kubectl(files["alice"], "create", "service", "loadbalancer", "lb2", "--tcp=80:8080")
		require.Error(t, err)
		assert.Contains(t, out, "exceeded quota")
		// Services up to the quota are admitted and one more is refused. Counted from the quota's own status:
		// admission adds each Service it admits there, but the sample app's Service, created while the quota
		// controller was still making its first count, may be counted only at the controller's next resync.
		quota := func(field string) int {
			out, err := cp.Kubectl(admin, "get", "resourcequota", "student-quota", "-n", "student-alice", "-o", "jsonpath={.status."+field+".services}")
			require.NoError(t, err)
			n, err := strconv.Atoi(strings.TrimSpace(out))
			require.NoError(t, err, "status.%s.services: %q", field, out)
			return n
		}
		hard, used := quota("hard"), quota("used")
		require.Positive(t, used, "lb1 is counted")
		for i := used; i < hard; i++ {
			_, err = cp.Kubectl(files["alice"], "create", "service", "clusterip", fmt.Sprintf("fill-%d", i), "--tcp=80:8080")
			require.NoError(t, err, "service %d of %d", i+1, hard)
		}
		out, err = cp.Kubectl(files["alice"], "create", "service", "clusterip", "one-too-many", "--tcp=80:8080")
		require.Error(t, err, "a Service over services=%d", hard)
		assert.Contains(t, out, "exceeded quota")
	})

	t.Run("pod security", func(t *testing.T) {
		out, err := cp.Kubectl(files["alice"], "run", "root", "--image=busybox", "--restart=Never",
			"--overrides", `{"spec":{"hostNetwork":true}}`)
		require.Error(t, err, "baseline refuses host networking")
		assert.Contains(t, out, "violates PodSecurity")
	})

	_, err = stack.Destroy(ctx)
	require.NoError(t, err, "pulumi destroy")
	for _, obj := range []string{"namespace/student-alice", "namespace/student-bob", "clusterrole/class-viewer", "clusterrolebinding/class-viewer"} {
		out, err := cp.Kubectl(admin, "get", obj, "--ignore-not-found", "-o", "name")
		require.NoError(t, err)
		assert.Empty(t, strings.TrimSpace(out), "%s must be gone after destroy", obj)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

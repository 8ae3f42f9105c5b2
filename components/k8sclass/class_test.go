package k8sclass

import (
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// mocks records inputs by type and logical name (several objects of a student share a name) and plays the token controller: a service account token Secret
// gets a token.
type mocks struct {
	mu        sync.Mutex
	resources map[string]pulumi.MockResourceArgs
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	m.resources[args.TypeToken+" "+args.Name] = args
	m.mu.Unlock()
	outs := args.Inputs.Copy()
	if args.TypeToken == "kubernetes:core/v1:Secret" {
		outs["data"] = resource.MakeSecret(resource.NewObjectProperty(resource.PropertyMap{
			"token": resource.NewPropertyValue(base64.StdEncoding.EncodeToString([]byte("token-of-" + args.Name))),
		}))
	}
	return args.Name + "-id", outs, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("unexpected call %s", args.Token)
}

func validArgs() *ClassArgs {
	return &ClassArgs{
		Students:      []string{"alice", "bob"},
		Kubeconfig:    pulumi.String("apiVersion: v1\nkind: Config\n"),
		Server:        pulumi.String("https://203.0.113.10"),
		CACertificate: pulumi.String("Q0E="),
		Quota:         FixedQuota("700m", "1Gi"),
		Labels:        map[string]string{"owner": "devops-class"},
	}
}

type applied struct {
	resources   map[string]pulumi.MockResourceArgs
	kubeconfigs internals.UnsafeAwaitOutputResult
}

func (a *applied) inputs(t *testing.T, name, typ string) map[string]any {
	t.Helper()
	r, ok := a.resources[typ+" "+name]
	require.True(t, ok, "resource %s %s not registered", typ, name)
	in := r.Inputs.Mappable()
	// The SDK sets apiVersion and kind from the type; the tests compare the rest.
	if kind, ok := in["kind"].(string); ok {
		assert.True(t, strings.HasSuffix(typ, ":"+kind), "%s has kind %s", typ, kind)
	}
	delete(in, "apiVersion")
	delete(in, "kind")
	return in
}

func apply(t *testing.T, args *ClassArgs) *applied {
	t.Helper()
	m := &mocks{resources: map[string]pulumi.MockResourceArgs{}}
	a := &applied{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		c, err := NewClass(ctx, "class", args)
		if err != nil {
			return err
		}
		a.kubeconfigs, err = internals.UnsafeAwaitOutput(ctx.Context(), c.Kubeconfigs)
		return err
	}, pulumi.WithMocks("deploylab", "training", m))
	require.NoError(t, err)
	a.resources = m.resources
	return a
}

func TestClassObjects(t *testing.T) {
	t.Parallel()
	a := apply(t, validArgs())
	meta := func(name string) map[string]any { return map[string]any{"name": name, "namespace": "student-alice"} }

	assert.Equal(t, map[string]any{"metadata": map[string]any{"name": "student-alice", "labels": map[string]any{
		"owner": "devops-class", "deploylab.dev/student": "alice",
		"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "restricted",
	}}}, a.inputs(t, "class-alice", "kubernetes:core/v1:Namespace"))
	assert.Equal(t, map[string]any{
		"metadata": map[string]any{"name": "alice-token", "namespace": "student-alice",
			"annotations": map[string]any{"kubernetes.io/service-account.name": "alice"}},
		"type": "kubernetes.io/service-account-token",
	}, a.inputs(t, "class-alice-token", "kubernetes:core/v1:Secret"))
	assert.Equal(t, map[string]any{"metadata": meta("student-quota"), "spec": map[string]any{"hard": map[string]any{
		"requests.cpu": "700m", "limits.cpu": "700m", "requests.memory": "1Gi", "limits.memory": "1Gi",
		"pods": "20", "services": "10", "services.loadbalancers": "1",
		"persistentvolumeclaims": "2", "requests.storage": "10Gi",
	}}}, a.inputs(t, "class-alice", "kubernetes:core/v1:ResourceQuota"))
	assert.Equal(t, map[string]any{"metadata": meta("student-limits"), "spec": map[string]any{"limits": []any{map[string]any{
		"type": "Container", "defaultRequest": map[string]any{"cpu": "50m", "memory": "64Mi"},
		"default": map[string]any{"cpu": "200m", "memory": "256Mi"}, "max": map[string]any{"cpu": "700m", "memory": "1Gi"},
	}}}}, a.inputs(t, "class-alice", "kubernetes:core/v1:LimitRange"))
	assert.Equal(t, map[string]any{"metadata": meta("default-deny-ingress"), "spec": map[string]any{
		"podSelector": map[string]any{}, "policyTypes": []any{"Ingress"},
	}}, a.inputs(t, "class-alice-default-deny", "kubernetes:networking.k8s.io/v1:NetworkPolicy"))
	assert.Equal(t, map[string]any{"metadata": meta("allow-same-namespace"), "spec": map[string]any{
		"podSelector": map[string]any{}, "policyTypes": []any{"Ingress"},
		"ingress": []any{map[string]any{"from": []any{map[string]any{
			"namespaceSelector": map[string]any{"matchLabels": map[string]any{"deploylab.dev/student": "alice"}},
		}}}},
	}}, a.inputs(t, "class-alice-allow-own", "kubernetes:networking.k8s.io/v1:NetworkPolicy"))
	assert.Equal(t, map[string]any{
		"metadata": meta("student"),
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "student"},
		"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": "alice", "namespace": "student-alice"}},
	}, a.inputs(t, "class-alice", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"))

	role := a.inputs(t, "class-alice", "kubernetes:rbac.authorization.k8s.io/v1:Role")
	assert.Len(t, role["rules"], len(StudentRules))
	for _, rule := range role["rules"].([]any) {
		for _, res := range rule.(map[string]any)["resources"].([]any) {
			assert.NotContains(t, []string{"roles", "rolebindings", "namespaces"}, res, "a student must not grant or leave their namespace")
		}
	}
	viewer := a.inputs(t, "class-viewer", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
	for _, rule := range viewer["rules"].([]any) {
		assert.Equal(t, []any{"get", "list", "watch"}, rule.(map[string]any)["verbs"], "cluster-wide views are read-only")
	}
	binding := a.inputs(t, "class-viewer", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
	assert.Equal(t, []any{
		map[string]any{"kind": "ServiceAccount", "name": "alice", "namespace": "student-alice"},
		map[string]any{"kind": "ServiceAccount", "name": "bob", "namespace": "student-bob"},
	}, binding["subjects"])

	// Every object goes through the class's own provider, built from the admin kubeconfig.
	assert.Equal(t, "apiVersion: v1\nkind: Config\n", a.inputs(t, "class-provider", "pulumi:providers:kubernetes")["kubeconfig"])
	for name, r := range a.resources {
		if strings.HasPrefix(r.TypeToken, "kubernetes:") {
			assert.Contains(t, r.RegisterRPC.GetProvider(), "::class-provider::", name)
		}
	}
	// Without SkipAwait the sample app is waited for.
	deployment := a.inputs(t, "class-alice-hello", "kubernetes:apps/v1:Deployment")
	assert.NotContains(t, deployment["metadata"], "annotations")
}

func TestSkipAwait(t *testing.T) {
	t.Parallel()
	args := validArgs()
	args.SkipAwait = true
	a := apply(t, args)
	for _, typ := range []string{"kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service"} {
		md := a.inputs(t, "class-bob-hello", typ)["metadata"].(map[string]any)
		assert.Equal(t, map[string]any{"pulumi.com/skipAwait": "true"}, md["annotations"], typ)
	}
}

func TestKubeconfigs(t *testing.T) {
	t.Parallel()
	a := apply(t, validArgs())
	require.True(t, a.kubeconfigs.Secret, "kubeconfigs must be a secret output")
	all := a.kubeconfigs.Value.(map[string]string)
	require.Len(t, all, 2)
	var kc struct {
		Clusters []struct {
			Cluster map[string]string `yaml:"cluster"`
		} `yaml:"clusters"`
		Users []struct {
			User map[string]any `yaml:"user"`
		} `yaml:"users"`
		Contexts []struct {
			Context map[string]string `yaml:"context"`
		} `yaml:"contexts"`
		CurrentContext string `yaml:"current-context"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(all["bob"]), &kc))
	assert.Equal(t, map[string]string{"server": "https://203.0.113.10", "certificate-authority-data": "Q0E="}, kc.Clusters[0].Cluster)
	assert.Equal(t, map[string]any{"token": "token-of-class-bob-token"}, kc.Users[0].User, "a plain token: no exec plugin, no Google identity")
	assert.Equal(t, map[string]string{"cluster": "class", "user": "bob", "namespace": "student-bob"}, kc.Contexts[0].Context)
	assert.Equal(t, "class-bob", kc.CurrentContext)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*ClassArgs)
		want   []string
	}{
		{"valid", func(*ClassArgs) {}, nil},
		{"no students", func(a *ClassArgs) { a.Students = nil }, []string{"students: required: at least one student"}},
		{"bad names", func(a *ClassArgs) { a.Students = []string{"Alice", "bo_b", "alice2", "alice2", ""} }, []string{
			`students[0]: "Alice" makes namespace "student-Alice", which is not a Kubernetes name (at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit)`,
			`students[1]: "bo_b" makes namespace "student-bo_b", which is not a Kubernetes name (at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit)`,
			`students[3]: "alice2" is listed twice`,
			"students[4]: empty name",
		}},
		{"no cluster", func(a *ClassArgs) { a.Kubeconfig, a.Server, a.CACertificate = nil, nil, nil }, []string{
			"kubeconfig: required: an admin kubeconfig of the cluster", "server: required: the API server URL students use",
			"caCertificate: required: the cluster CA (base64 of the PEM)",
		}},
		{"bad quota", func(a *ClassArgs) { a.Quota = Quota{CPU: "lots", Memory: "1Gi", Storage: "1Gi", Pods: 0, PVCs: -1} }, []string{
			`quota.cpu: "lots" is not a Kubernetes quantity (such as 500m, 2, 1Gi)`,
			"quota.pvcs: -1 is negative",
			"quota.pods: 0 leaves no room for the sample app; want 1 or more",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := validArgs()
			tc.change(a)
			a.SetDefaults()
			assert.Equal(t, tc.want, a.Validate())
		})
	}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := NewClass(ctx, "class", nil)
		return err
	}, pulumi.WithMocks("deploylab", "training", &mocks{resources: map[string]pulumi.MockResourceArgs{}}))
	require.ErrorContains(t, err, "k8sclass: NewClass needs args")
}

func TestSizeQuota(t *testing.T) {
	t.Parallel()
	// 3 zones x 2 e2-standard-2 nodes (2 vCPU, 8 GiB each), 4 students: (2000-600)*6/4 and (8192-2560)*6/4.
	q := SizeQuota(Capacity{CPUMilli: 2000, MemoryMiB: 8192, Nodes: 6}, 4)
	assert.Equal(t, Quota{CPU: "2100m", Memory: "8448Mi", Pods: 20, Services: 10, LoadBalancers: 1, PVCs: 2, Storage: "10Gi"}, q)
	assert.Equal(t, "0m", SizeQuota(Capacity{CPUMilli: 500, MemoryMiB: 1024, Nodes: 1}, 0).CPU, "a node smaller than GKE's share leaves nothing")
}

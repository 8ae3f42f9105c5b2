// Package k8sclass is the class on a Kubernetes cluster: for every student of a training stack a namespace
// of their own, a Role there and nothing cluster-wide beyond a few read-only views, a ResourceQuota and
// LimitRange sized for the node pool, a default-deny NetworkPolicy with an allow for their own namespace, a
// sample app, and a kubeconfig (a secret output) that works from their own host without the teacher's Google
// identity: it holds a service account token bound to their namespace.
package k8sclass

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// SampleAppName names the sample Deployment and Service in every namespace.
const SampleAppName = "hello"

// samplePort is where hello-app listens.
const samplePort = 8080

// skipAwait is the pulumi-kubernetes annotation that makes the provider return as soon as the API server
// has accepted an object, without waiting for it to become ready.
const skipAwait = "pulumi.com/skipAwait"

// studentLabel marks a student's namespace; the NetworkPolicy allow matches on it.
const studentLabel = "deploylab.dev/student"

var all = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
var readOnly = []string{"get", "list", "watch"}

// StudentRules are what a student may do in their own namespace: run and debug workloads, expose them, give
// them configuration, storage and network policies; read (never change) their quota and limits. No Roles or
// RoleBindings: a student cannot grant anyone anything.
var StudentRules = []Rule{
	{APIGroups: []string{""}, Resources: []string{"pods", "pods/log", "pods/exec", "pods/attach", "pods/portforward",
		"services", "endpoints", "configmaps", "secrets", "persistentvolumeclaims", "serviceaccounts"}, Verbs: all},
	{APIGroups: []string{""}, Resources: []string{"events", "resourcequotas", "limitranges"}, Verbs: readOnly},
	{APIGroups: []string{"apps"}, Resources: []string{"deployments", "deployments/scale", "replicasets", "replicasets/scale",
		"statefulsets", "statefulsets/scale", "daemonsets"}, Verbs: all},
	{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: all},
	{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "networkpolicies"}, Verbs: all},
	{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers"}, Verbs: all},
	{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: all},
	{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: readOnly},
}

// ViewerRules are the cluster-wide read-only views the lessons need: which nodes (and zones, and Spot) the
// pool has, which namespaces exist, which storage and ingress classes there are.
var ViewerRules = []Rule{
	{APIGroups: []string{""}, Resources: []string{"nodes", "namespaces"}, Verbs: readOnly},
	{APIGroups: []string{"storage.k8s.io"}, Resources: []string{"storageclasses"}, Verbs: readOnly},
	{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingressclasses"}, Verbs: readOnly},
}

// Rule is one RBAC policy rule.
type Rule struct {
	APIGroups, Resources, Verbs []string
}

// Class is the class's objects on the cluster.
type Class struct {
	pulumi.ResourceState

	// Namespaces maps each student to their namespace.
	Namespaces pulumi.StringMapOutput `pulumi:"namespaces"`
	// Kubeconfigs maps each student to their kubeconfig (a secret): a token of their service account, the
	// cluster's address and CA, and their namespace as the default.
	Kubeconfigs pulumi.StringMapOutput `pulumi:"kubeconfigs"`
}

// NewClass creates the class objects with a provider of its own built from args.Kubeconfig.
func NewClass(ctx *pulumi.Context, name string, args *ClassArgs, opts ...pulumi.ResourceOption) (*Class, error) {
	if args == nil {
		return nil, errors.New("k8sclass: NewClass needs args (students, kubeconfig, server, caCertificate, quota)")
	}
	a := *args
	a.SetDefaults()
	if problems := a.Validate(); len(problems) > 0 {
		return nil, fmt.Errorf("k8sclass: invalid args:\n  %s", strings.Join(problems, "\n  "))
	}
	c := &Class{}
	if err := ctx.RegisterComponentResource("deploylab:k8sclass:Class", name, c, opts...); err != nil {
		return nil, err
	}
	provider, err := kubernetes.NewProvider(ctx, name+"-provider", &kubernetes.ProviderArgs{
		Kubeconfig: a.Kubeconfig,
		// A training stack whose cluster is already gone (deleted by hand, or a half-finished destroy) must
		// still destroy: objects of an unreachable cluster are dropped from state instead of failing.
		DeleteUnreachable: pulumi.Bool(true),
	}, pulumi.Parent(c))
	if err != nil {
		return nil, err
	}
	in := pulumi.Composite(pulumi.Parent(c), pulumi.Provider(provider))

	viewer, err := rbacv1.NewClusterRole(ctx, name+"-viewer", &rbacv1.ClusterRoleArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(name + "-viewer")},
		Rules:    policyRules(ViewerRules),
	}, in)
	if err != nil {
		return nil, err
	}
	namespaces, kubeconfigs := pulumi.StringMap{}, pulumi.StringMap{}
	var viewers rbacv1.SubjectArray
	for _, student := range a.Students {
		s, err := newStudent(ctx, name, &a, student, in)
		if err != nil {
			return nil, err
		}
		namespaces[student] = s.namespace.Metadata.Name().Elem()
		kubeconfigs[student] = s.kubeconfig
		viewers = append(viewers, s.subject)
	}
	if _, err := rbacv1.NewClusterRoleBinding(ctx, name+"-viewer", &rbacv1.ClusterRoleBindingArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(name + "-viewer")},
		RoleRef: &rbacv1.RoleRefArgs{
			ApiGroup: pulumi.String("rbac.authorization.k8s.io"), Kind: pulumi.String("ClusterRole"), Name: viewer.Metadata.Name().Elem(),
		},
		Subjects: viewers,
	}, in); err != nil {
		return nil, err
	}

	c.Namespaces = namespaces.ToStringMapOutput()
	c.Kubeconfigs = pulumi.ToSecret(kubeconfigs.ToStringMapOutput()).(pulumi.StringMapOutput)
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"namespaces": c.Namespaces, "kubeconfigs": c.Kubeconfigs}); err != nil {
		return nil, err
	}
	return c, nil
}

type student struct {
	namespace  *corev1.Namespace
	subject    rbacv1.SubjectInput
	kubeconfig pulumi.StringOutput
}

// newStudent creates one student's namespace and everything in it.
func newStudent(ctx *pulumi.Context, name string, a *ClassArgs, who string, in pulumi.ResourceOption) (*student, error) {
	prefix := name + "-" + who
	labels := maps.Clone(a.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[studentLabel] = who
	// Pod Security: baseline is enforced (no privileged pods, host namespaces or host paths, which would
	// reach past the namespace); restricted only warns, so lessons with common images still run.
	labels["pod-security.kubernetes.io/enforce"] = "baseline"
	labels["pod-security.kubernetes.io/warn"] = "restricted"
	ns, err := corev1.NewNamespace(ctx, prefix, &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(a.NamespacePrefix + who), Labels: pulumi.ToStringMap(labels)},
	}, in)
	if err != nil {
		return nil, err
	}
	nsName := ns.Metadata.Name().Elem()
	meta := func(objName string) *metav1.ObjectMetaArgs {
		return &metav1.ObjectMetaArgs{Name: pulumi.String(objName), Namespace: nsName}
	}

	sa, err := corev1.NewServiceAccount(ctx, prefix, &corev1.ServiceAccountArgs{Metadata: meta(who)}, in)
	if err != nil {
		return nil, err
	}
	// A long-lived token Secret: the token controller fills it, and the provider waits until it has
	// (pulumi-kubernetes await/awaiters.go, untilCoreV1SecretInitialized). It lives as long as the stack and
	// is revoked by deleting the namespace.
	token, err := corev1.NewSecret(ctx, prefix+"-token", &corev1.SecretArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(who + "-token"), Namespace: nsName,
			Annotations: pulumi.StringMap{"kubernetes.io/service-account.name": sa.Metadata.Name().Elem()},
		},
		Type: pulumi.String("kubernetes.io/service-account-token"),
	}, in)
	if err != nil {
		return nil, err
	}
	role, err := rbacv1.NewRole(ctx, prefix, &rbacv1.RoleArgs{Metadata: meta("student"), Rules: policyRules(StudentRules)}, in)
	if err != nil {
		return nil, err
	}
	subject := &rbacv1.SubjectArgs{Kind: pulumi.String("ServiceAccount"), Name: sa.Metadata.Name().Elem(), Namespace: nsName}
	if _, err := rbacv1.NewRoleBinding(ctx, prefix, &rbacv1.RoleBindingArgs{
		Metadata: meta("student"),
		RoleRef:  &rbacv1.RoleRefArgs{ApiGroup: pulumi.String("rbac.authorization.k8s.io"), Kind: pulumi.String("Role"), Name: role.Metadata.Name().Elem()},
		Subjects: rbacv1.SubjectArray{subject},
	}, in); err != nil {
		return nil, err
	}
	if err := newLimits(ctx, prefix, a.Quota, meta, in); err != nil {
		return nil, err
	}
	if err := newNetworkPolicies(ctx, prefix, who, meta, in); err != nil {
		return nil, err
	}
	if err := newSampleApp(ctx, prefix, a, meta, in); err != nil {
		return nil, err
	}
	kubeconfig := pulumi.All(a.Server, a.CACertificate, token.Data, nsName).ApplyT(func(v []any) (string, error) {
		data, _ := v[2].(map[string]string)
		tok, err := base64.StdEncoding.DecodeString(data["token"])
		if err != nil || len(tok) == 0 {
			return "", fmt.Errorf("k8sclass: the token secret of %s has no token (%v)", who, err)
		}
		return Kubeconfig(KubeconfigInput{
			ClusterName: a.ClusterName, Server: v[0].(string), CACertificate: v[1].(string),
			User: who, Namespace: v[3].(string), Token: string(tok),
		})
	}).(pulumi.StringOutput)
	return &student{namespace: ns, subject: subject, kubeconfig: kubeconfig}, nil
}

// newLimits sets the namespace's quota and the per-container defaults that let pods without resources in
// their spec be admitted under it (a quota on requests refuses pods that state none).
func newLimits(ctx *pulumi.Context, prefix string, q Quota, meta func(string) *metav1.ObjectMetaArgs, in pulumi.ResourceOption) error {
	if _, err := corev1.NewResourceQuota(ctx, prefix, &corev1.ResourceQuotaArgs{
		Metadata: meta("student-quota"),
		Spec: &corev1.ResourceQuotaSpecArgs{Hard: pulumi.StringMap{
			"requests.cpu": pulumi.String(q.CPU), "limits.cpu": pulumi.String(q.CPU),
			"requests.memory": pulumi.String(q.Memory), "limits.memory": pulumi.String(q.Memory),
			"pods":     pulumi.String(strconv.Itoa(q.Pods)),
			"services": pulumi.String(strconv.Itoa(q.Services)),
			// No cap on services.nodeports: a LoadBalancer Service allocates node ports too, and the nodes are
			// private, so a NodePort reaches nothing outside the VPC.
			"services.loadbalancers": pulumi.String(strconv.Itoa(q.LoadBalancers)),
			"persistentvolumeclaims": pulumi.String(strconv.Itoa(q.PVCs)),
			"requests.storage":       pulumi.String(q.Storage),
		}},
	}, in); err != nil {
		return err
	}
	_, err := corev1.NewLimitRange(ctx, prefix, &corev1.LimitRangeArgs{
		Metadata: meta("student-limits"),
		Spec: &corev1.LimitRangeSpecArgs{Limits: corev1.LimitRangeItemArray{&corev1.LimitRangeItemArgs{
			Type:           pulumi.String("Container"),
			DefaultRequest: pulumi.StringMap{"cpu": pulumi.String("50m"), "memory": pulumi.String("64Mi")},
			Default:        pulumi.StringMap{"cpu": pulumi.String("200m"), "memory": pulumi.String("256Mi")},
			// One container may take the whole share, no more (a pod asking more could never be admitted).
			Max: pulumi.StringMap{"cpu": pulumi.String(q.CPU), "memory": pulumi.String(q.Memory)},
		}}},
	}, in)
	return err
}

// newNetworkPolicies denies all ingress into the namespace, then allows it from the namespace itself: what
// the CNI enforces is a lesson (Dataplane V2 and Calico both do).
func newNetworkPolicies(ctx *pulumi.Context, prefix, who string, meta func(string) *metav1.ObjectMetaArgs, in pulumi.ResourceOption) error {
	if _, err := networkingv1.NewNetworkPolicy(ctx, prefix+"-default-deny", &networkingv1.NetworkPolicyArgs{
		Metadata: meta("default-deny-ingress"),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress")},
		},
	}, in); err != nil {
		return err
	}
	_, err := networkingv1.NewNetworkPolicy(ctx, prefix+"-allow-own", &networkingv1.NetworkPolicyArgs{
		Metadata: meta("allow-same-namespace"),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress")},
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{&networkingv1.NetworkPolicyIngressRuleArgs{
				From: networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{
					NamespaceSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{studentLabel: pulumi.String(who)}},
				}},
			}},
		},
	}, in)
	return err
}

// newSampleApp deploys the sample app declaratively: a Deployment of one replica and a ClusterIP Service.
func newSampleApp(ctx *pulumi.Context, prefix string, a *ClassArgs, meta func(string) *metav1.ObjectMetaArgs, in pulumi.ResourceOption) error {
	withAwait := func(m *metav1.ObjectMetaArgs) *metav1.ObjectMetaArgs {
		if a.SkipAwait {
			m.Annotations = pulumi.StringMap{skipAwait: pulumi.String("true")}
		}
		return m
	}
	selector := pulumi.StringMap{"app": pulumi.String(SampleAppName)}
	if _, err := appsv1.NewDeployment(ctx, prefix+"-"+SampleAppName, &appsv1.DeploymentArgs{
		Metadata: withAwait(meta(SampleAppName)),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(1),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: selector},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: selector},
				Spec: &corev1.PodSpecArgs{
					// The sample follows the restricted Pod Security profile, as students' apps should.
					SecurityContext: &corev1.PodSecurityContextArgs{
						RunAsNonRoot:   pulumi.Bool(true),
						RunAsUser:      pulumi.Int(65532),
						SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
					},
					Containers: corev1.ContainerArray{&corev1.ContainerArgs{
						Name:  pulumi.String(SampleAppName),
						Image: pulumi.String(a.SampleImage),
						Ports: corev1.ContainerPortArray{&corev1.ContainerPortArgs{ContainerPort: pulumi.Int(samplePort)}},
						Resources: &corev1.ResourceRequirementsArgs{
							Requests: pulumi.StringMap{"cpu": pulumi.String("50m"), "memory": pulumi.String("32Mi")},
							Limits:   pulumi.StringMap{"cpu": pulumi.String("100m"), "memory": pulumi.String("64Mi")},
						},
						SecurityContext: &corev1.SecurityContextArgs{
							AllowPrivilegeEscalation: pulumi.Bool(false),
							ReadOnlyRootFilesystem:   pulumi.Bool(true),
							Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
						},
					}},
				},
			},
		},
	}, in); err != nil {
		return err
	}
	_, err := corev1.NewService(ctx, prefix+"-"+SampleAppName, &corev1.ServiceArgs{
		Metadata: withAwait(meta(SampleAppName)),
		Spec: &corev1.ServiceSpecArgs{
			Selector: selector,
			Ports:    corev1.ServicePortArray{&corev1.ServicePortArgs{Port: pulumi.Int(80), TargetPort: pulumi.Int(samplePort)}},
		},
	}, in)
	return err
}

func policyRules(rules []Rule) rbacv1.PolicyRuleArray {
	var out rbacv1.PolicyRuleArray
	for _, r := range rules {
		out = append(out, &rbacv1.PolicyRuleArgs{
			ApiGroups: pulumi.ToStringArray(r.APIGroups),
			Resources: pulumi.ToStringArray(r.Resources),
			Verbs:     pulumi.ToStringArray(r.Verbs),
		})
	}
	return out
}

package k8sclass

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Defaults applied by SetDefaults.
const (
	// DefaultNamespacePrefix keeps students' namespaces apart from system ones (a student called "default"
	// or "kube-system" gets student-default).
	DefaultNamespacePrefix = "student-"
	// DefaultClusterName names the cluster and context in the students' kubeconfigs.
	DefaultClusterName = "class"
	// DefaultSampleImage is Google's hello-app: a static Go binary answering on 8080, pulled from Artifact
	// Registry, which the node service account may read.
	DefaultSampleImage = "us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0"
)

// Quota is what one student's namespace may use in total (a ResourceQuota). Quantities are Kubernetes
// quantities ("500m", "1Gi").
type Quota struct {
	// CPU is the sum of CPU requests and, separately, of CPU limits allowed.
	CPU string
	// Memory is the sum of memory requests and, separately, of memory limits allowed.
	Memory string
	// Pods is the number of pods.
	Pods int
	// Services is the number of Services; LoadBalancers of them may be type LoadBalancer (each a billed
	// Google Cloud load balancer).
	Services, LoadBalancers int
	// PVCs is the number of PersistentVolumeClaims and Storage their total size (each a billed disk).
	PVCs    int
	Storage string
}

// ClassArgs configure the class objects on a Kubernetes cluster. Keys in messages are relative to the
// component.
type ClassArgs struct {
	// Students are the roster's names; each gets a namespace NamespacePrefix+name. Required, at least one;
	// each name must make a valid namespace (lowercase letters, digits and "-").
	Students []string
	// Kubeconfig is an admin kubeconfig the objects are created with (on GKE the cluster's, which runs
	// gke-gcloud-auth-plugin with the deployer's identity). Required.
	Kubeconfig pulumi.StringInput
	// Server is the API server's URL as students reach it (https://ENDPOINT). Required.
	Server pulumi.StringInput
	// CACertificate is the cluster CA, base64 of the PEM (as GKE's masterAuth returns it). Required.
	CACertificate pulumi.StringInput
	// ClusterName names the cluster and context in the students' kubeconfigs. Optional, default "class".
	ClusterName string
	// NamespacePrefix is put before each student's name. Optional, default "student-".
	NamespacePrefix string
	// Quota is each student's share. Required: SizeQuota derives it from the node pool.
	Quota Quota
	// SampleImage is the image of the sample app deployed in every namespace. Optional, default Google's
	// hello-app.
	SampleImage string
	// SkipAwait marks the sample app's Deployment and Service with pulumi.com/skipAwait, so `pulumi up` does
	// not wait for pods to become ready. Only for a control plane without nodes (the tests' local API server
	// has no scheduler or kubelet: pods stay Pending for ever); on GKE leave it false, so an app that cannot
	// start fails the update instead of failing the first lesson. Optional, default false.
	SkipAwait bool
	// Labels go on every namespace. Keys and values must be valid Kubernetes labels. Optional.
	Labels map[string]string
}

// SetDefaults fills every optional field left empty.
func (a *ClassArgs) SetDefaults() {
	if a.ClusterName == "" {
		a.ClusterName = DefaultClusterName
	}
	if a.NamespacePrefix == "" {
		a.NamespacePrefix = DefaultNamespacePrefix
	}
	if a.SampleImage == "" {
		a.SampleImage = DefaultSampleImage
	}
}

var (
	// dnsLabel is Kubernetes' rule for namespace names (RFC 1123 label).
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// quantity is a decimal Kubernetes quantity with an optional binary or decimal suffix.
	quantity = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$`)
)

// Validate returns every problem of the (defaulted) args, one line each, starting with the key.
func (a *ClassArgs) Validate() []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(a.Students) == 0 {
		add("students: required: at least one student")
	}
	problems = append(problems, NamespaceProblems(a.NamespacePrefix, a.Students)...)
	if a.Kubeconfig == nil {
		add("kubeconfig: required: an admin kubeconfig of the cluster")
	}
	if a.Server == nil {
		add("server: required: the API server URL students use")
	}
	if a.CACertificate == nil {
		add("caCertificate: required: the cluster CA (base64 of the PEM)")
	}
	q := a.Quota
	for _, f := range []struct{ key, value string }{{"quota.cpu", q.CPU}, {"quota.memory", q.Memory}, {"quota.storage", q.Storage}} {
		if !quantity.MatchString(f.value) {
			add("%s: %q is not a Kubernetes quantity (such as 500m, 2, 1Gi)", f.key, f.value)
		}
	}
	for _, f := range []struct {
		key   string
		value int
	}{{"quota.services", q.Services}, {"quota.loadBalancers", q.LoadBalancers}, {"quota.pvcs", q.PVCs}} {
		if f.value < 0 {
			add("%s: %d is negative", f.key, f.value)
		}
	}
	if q.Pods < 1 {
		add("quota.pods: %d leaves no room for the sample app; want 1 or more", q.Pods)
	}
	if strings.TrimSpace(a.SampleImage) != a.SampleImage || strings.ContainsAny(a.SampleImage, " \t") {
		add("sampleImage: %q is not an image reference", a.SampleImage)
	}
	return problems
}

// NamespaceProblems checks that every student makes a valid, distinct namespace with prefix, one line per
// problem naming students[i].
func NamespaceProblems(prefix string, students []string) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	seen := map[string]bool{}
	for i, s := range students {
		ns := prefix + s
		switch {
		case s == "":
			add("students[%d]: empty name", i)
		case len(ns) > 63 || !dnsLabel.MatchString(ns):
			add("students[%d]: %q makes namespace %q, which is not a Kubernetes name (at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit)", i, s, ns)
		case seen[s]:
			add("students[%d]: %q is listed twice", i, s)
		}
		seen[s] = true
	}
	return problems
}

// Capacity is what the node pool offers the class.
type Capacity struct {
	// CPUMilli and MemoryMiB are one node's capacity.
	CPUMilli, MemoryMiB int
	// Nodes is how many nodes the pool can have (its autoscaler maximum, over all zones).
	Nodes int
}

// Per node, what GKE keeps for the system (kubelet, container runtime, eviction threshold and the
// kube-system pods: DNS, metrics, logging, the Dataplane V2 agent), measured on e2-standard-2 nodes as about
// 0.6 vCPU and 2.5 GiB of the 2 vCPU and 8 GiB; the rest is the students'.
const (
	systemCPUMilli  = 600
	systemMemoryMiB = 2560
)

// SizeQuota shares what the pool can run at its maximum size among the students: what the nodes have
// minus what GKE keeps on each. A student's quota is then met even when every student uses all of it,
// as long as the autoscaler may add nodes; a class of 20 on 2 e2-standard-2 nodes gets about 140m CPU each,
// which says the pool is too small rather than failing mid-lesson.
func SizeQuota(c Capacity, students int) Quota {
	if students < 1 {
		students = 1
	}
	cpu := max(c.CPUMilli-systemCPUMilli, 0) * c.Nodes / students
	mem := max(c.MemoryMiB-systemMemoryMiB, 0) * c.Nodes / students
	return FixedQuota(strconv.Itoa(cpu)+"m", strconv.Itoa(mem)+"Mi")
}

// FixedQuota is a student's quota with the given CPU and memory (for Autopilot, which has no pool to share
// and bills each pod's requests instead).
func FixedQuota(cpu, memory string) Quota {
	return Quota{
		CPU: cpu, Memory: memory, Pods: 20, Services: 10,
		// One load balancer and two small disks each: a lesson's worth, and each one billed.
		LoadBalancers: 1, PVCs: 2, Storage: "10Gi",
	}
}

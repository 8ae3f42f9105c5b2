package infra

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/deploylab/deploylab/components/gke"
	"github.com/deploylab/deploylab/components/k8sclass"
)

// deployGKE creates the cluster and, in a training stack with students, the class on it: a namespace,
// access, quota and kubeconfig per student. studentIPs are the students' host addresses (empty without
// hosts); each may reach the Kubernetes API, so the kubeconfig works from the student's own host.
func deployGKE(ctx *pulumi.Context, c *Config, studentIPs map[string]pulumi.StringOutput, out pulumi.Map) error {
	args := GKEArgs(c)
	for _, s := range c.Classroom.Students {
		if ip, ok := studentIPs[s.Name]; ok {
			args.ExtraAuthorizedNetworks = append(args.ExtraAuthorizedNetworks,
				gke.AuthorizedNetwork{Name: "student-" + s.Name, CIDR: pulumi.Sprintf("%s/32", ip)})
		}
	}
	cluster, err := gke.NewCluster(ctx, "gke", &args)
	if err != nil {
		return err
	}
	out["gkeClusterName"] = cluster.Name
	out["gkeEndpoint"] = cluster.Endpoint
	out["kubeconfig"] = cluster.Kubeconfig
	if !hasClass(c) {
		return nil
	}
	quota, err := classQuota(c)
	if err != nil {
		return err
	}
	// The class waits for the whole cluster component (node pool included), so the sample app has nodes.
	class, err := k8sclass.NewClass(ctx, "class", &k8sclass.ClassArgs{
		Students:      studentNames(c),
		Kubeconfig:    cluster.Kubeconfig,
		Server:        pulumi.Sprintf("https://%s", cluster.Endpoint),
		CACertificate: cluster.CACertificate,
		ClusterName:   "deploylab-" + ctx.Stack(),
		Quota:         quota,
		Labels:        map[string]string{"owner": gke.LabelValue(c.Owner), "env": c.Env},
	}, pulumi.DependsOn([]pulumi.Resource{cluster}))
	if err != nil {
		return err
	}
	out["studentKubeconfigs"] = class.Kubeconfigs
	out["studentNamespaces"] = class.Namespaces
	return nil
}

// hasClass says whether the stack puts a class on the cluster: a training stack with a roster.
func hasClass(c *Config) bool {
	return c.GKE.Enabled && c.Env == "training" && len(c.Classroom.Students) > 0
}

func studentNames(c *Config) []string {
	names := make([]string, 0, len(c.Classroom.Students))
	for _, s := range c.Classroom.Students {
		names = append(names, s.Name)
	}
	return names
}

// autopilotQuota is each student's share on Autopilot, which has no pool to divide and bills what pods request.
var autopilotQuota = k8sclass.FixedQuota("1", "2Gi")

// classQuota divides the node pool at its largest (maxNodes in each zone of a regional cluster) among the
// students.
func classQuota(c *Config) (k8sclass.Quota, error) {
	g := c.GKE
	if g.Autopilot {
		return autopilotQuota, nil
	}
	cpu, mem, err := machineCapacity(g.MachineType)
	if err != nil {
		return k8sclass.Quota{}, err
	}
	zones := 3 // GKE spreads a regional pool over three zones
	if g.Zone != "" {
		zones = 1
	}
	return k8sclass.SizeQuota(k8sclass.Capacity{CPUMilli: cpu, MemoryMiB: mem, Nodes: *g.MaxNodes * zones}, len(c.Classroom.Students)), nil
}

var (
	predefinedMachine = regexp.MustCompile(`^([a-z0-9]+)-(standard|highmem|highcpu)-([0-9]+)$`)
	customMachine     = regexp.MustCompile(`^(?:[a-z0-9]+-)?custom-([0-9]+)-([0-9]+)$`)
)

// sharedCore are the shared-core E2 types: 2 vCPUs in bursts, and their memory in MiB.
var sharedCore = map[string]int{"e2-micro": 1024, "e2-small": 2048, "e2-medium": 4096}

// machineCapacity is a Compute Engine machine type's vCPUs (as millicores) and memory (MiB), from its name:
// standard types have 4 GiB per vCPU (N1 3.75), highmem 8 (N1 6.5), highcpu 1 (N1 0.9).
func machineCapacity(machineType string) (int, int, error) {
	if mem, ok := sharedCore[machineType]; ok {
		return 2000, mem, nil
	}
	if m := customMachine.FindStringSubmatch(machineType); m != nil {
		cpus, _ := strconv.Atoi(m[1])
		mem, _ := strconv.Atoi(m[2])
		return cpus * 1000, mem, nil
	}
	m := predefinedMachine.FindStringSubmatch(machineType)
	if m == nil {
		return 0, 0, fmt.Errorf("%s:gke.machineType: %q: cannot size the students' quota from it (want a predefined type such as e2-standard-2, or custom-CPUS-MIB)", Namespace, machineType)
	}
	cpus, _ := strconv.Atoi(m[3])
	perCPU := map[string]int{"standard": 4096, "highmem": 8192, "highcpu": 1024}[m[2]]
	if m[1] == "n1" {
		perCPU = map[string]int{"standard": 3840, "highmem": 6656, "highcpu": 922}[m[2]]
	}
	return cpus * 1000, cpus * perCPU, nil
}

// Package gke is the GKE component: a VPC-native, private-node cluster with a CNI choice (Dataplane V2 or
// Calico) or Autopilot, its network and NAT, a least-privilege node service account, an autoscaling node pool,
// and a kubeconfig that authenticates with gke-gcloud-auth-plugin.
package gke

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/compute"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/container"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/projects"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// NodeRoles are the only project roles the node service account gets: GKE's documented minimum for a node
// account, roles/container.defaultNodeServiceAccount (logs, metrics, resource metadata; GKE docs "Configure
// node service accounts", and the remediation of policy/gke.rego), plus pulling images from Artifact Registry.
// The Compute Engine default account would instead have Editor on the whole project.
var NodeRoles = []string{
	"roles/container.defaultNodeServiceAccount",
	"roles/artifactregistry.reader",
}

// APIs are the services a fresh project must have enabled before anything here can be created: the network
// and nodes (compute), the cluster (container), the node service account (iam) and its project role
// bindings (cloudresourcemanager). Without them the first call fails with "… API has not been used in
// project … or it is disabled".
var APIs = []string{
	"compute.googleapis.com",
	"container.googleapis.com",
	"iam.googleapis.com",
	"cloudresourcemanager.googleapis.com",
}

// WebhookPorts are where admission webhooks listen on the nodes (ingress-nginx 8443, Gatekeeper and most
// operators built with controller-runtime 9443). A private cluster's control plane reaches nodes only on
// 443 and 10250 by default, so installing them fails with "failed calling webhook" (kubernetes/ingress-nginx#6147,
// open-policy-agent/gatekeeper#499).
var WebhookPorts = []string{"8443", "9443"}

// The maintenance window: GKE's automatic upgrades run only on weekends, 16:00-24:00 UTC (Saturday and
// Sunday 01:00-09:00 in Seoul), outside class hours. GKE asks for at least 48 hours in any 32 days, counting
// only windows of 4 hours or more; two 8-hour windows a week give about 72. Recurrences are in UTC, so the
// start is a fixed UTC date (a Saturday): only its time of day and the duration matter.
const (
	maintenanceStart      = "2026-01-03T16:00:00Z"
	maintenanceEnd        = "2026-01-04T00:00:00Z"
	maintenanceRecurrence = "FREQ=WEEKLY;BYDAY=SA,SU"
	// noUpgradesScope holds minor upgrades and node upgrades (the ones that drain nodes) but lets security
	// patches reach the control plane; unlike NO_UPGRADES it is not capped at 30 days.
	noUpgradesScope = "NO_MINOR_OR_NODE_UPGRADES"
	// noUpgradesLead is how long before NoUpgradesUntil the exclusion starts: a fixed start keeps the
	// plan stable between runs (time.Now would change it every preview), and a class lasts less than this.
	noUpgradesLead = 90 * 24 * time.Hour
)

// cloudPlatformScope is the only OAuth scope nodes get: with a dedicated service account IAM is what limits
// access, and narrower scopes only break features (Google's recommendation for custom node accounts).
const cloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"

// Secondary range names inside the subnet; they only need to be unique within it.
const (
	podsRangeName     = "pods"
	servicesRangeName = "services"
)

// Cluster is a GKE cluster with its network, node service account and (unless Autopilot) node pool.
type Cluster struct {
	pulumi.ResourceState

	// Name is the GKE cluster name.
	Name pulumi.StringOutput `pulumi:"name"`
	// Endpoint is the IP address of the Kubernetes API.
	Endpoint pulumi.StringOutput `pulumi:"endpoint"`
	// Kubeconfig is a kubeconfig (secret) that gets tokens from gke-gcloud-auth-plugin.
	Kubeconfig pulumi.StringOutput `pulumi:"kubeconfig"`
	// CACertificate is the cluster CA as GKE returns it (base64 of the PEM), for kubeconfigs of other users.
	CACertificate pulumi.StringOutput `pulumi:"caCertificate"`
}

// NewCluster creates the cluster. args are defaulted and validated here; every problem is returned at once.
func NewCluster(ctx *pulumi.Context, name string, args *ClusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	if args == nil {
		return nil, errors.New("gke: NewCluster needs args (project, region and adminCidrs at least)")
	}
	a := *args
	a.SetDefaults()
	if problems := a.Validate(); len(problems) > 0 {
		return nil, fmt.Errorf("gke: invalid args:\n  %s", strings.Join(problems, "\n  "))
	}

	c := &Cluster{}
	if err := ctx.RegisterComponentResource("deploylab:gke:Cluster", name, c, opts...); err != nil {
		return nil, err
	}
	labels := pulumi.ToStringMap(a.labels())
	apis, err := enableAPIs(ctx, name, &a, pulumi.Parent(c))
	if err != nil {
		return nil, err
	}
	// Everything else waits for the APIs of a fresh project.
	parent := pulumi.Composite(pulumi.Parent(c), pulumi.DependsOn(apis))

	net, subnet, err := newNetwork(ctx, name, &a, parent)
	if err != nil {
		return nil, err
	}
	sa, bindings, err := newNodeServiceAccount(ctx, name, &a, parent)
	if err != nil {
		return nil, err
	}
	if err := newWebhookFirewall(ctx, name, &a, net, sa, parent); err != nil {
		return nil, err
	}

	clusterArgs := &container.ClusterArgs{
		Project:        pulumi.String(a.Project),
		Location:       pulumi.String(a.location()),
		Network:        net.ID(),
		Subnetwork:     subnet.ID(),
		NetworkingMode: pulumi.String("VPC_NATIVE"),
		IpAllocationPolicy: &container.ClusterIpAllocationPolicyArgs{
			ClusterSecondaryRangeName:  pulumi.String(podsRangeName),
			ServicesSecondaryRangeName: pulumi.String(servicesRangeName),
		},
		PrivateClusterConfig: &container.ClusterPrivateClusterConfigArgs{
			EnablePrivateNodes: pulumi.Bool(true),
			// The endpoint stays public so admins reach it, but only from adminCidrs (below).
			EnablePrivateEndpoint: pulumi.Bool(false),
			MasterIpv4CidrBlock:   pulumi.String(a.MasterCidr),
		},
		MasterAuthorizedNetworksConfig: &container.ClusterMasterAuthorizedNetworksConfigArgs{
			CidrBlocks: authorizedNetworks(a.AdminCidrs, a.ExtraAuthorizedNetworks),
			// Without this every Google Cloud VM, anyone's, would pass the authorized-networks check.
			GcpPublicCidrsAccessEnabled: pulumi.Bool(false),
		},
		MasterAuth: &container.ClusterMasterAuthArgs{
			ClientCertificateConfig: &container.ClusterMasterAuthClientCertificateConfigArgs{
				IssueClientCertificate: pulumi.Bool(false),
			},
		},
		WorkloadIdentityConfig: &container.ClusterWorkloadIdentityConfigArgs{
			WorkloadPool: pulumi.String(a.Project + ".svc.id.goog"),
		},
		MaintenancePolicy:  maintenancePolicy(a.NoUpgradesUntil),
		EnableLegacyAbac:   pulumi.Bool(false),
		ReleaseChannel:     &container.ClusterReleaseChannelArgs{Channel: pulumi.String(a.ReleaseChannel)},
		ResourceLabels:     labels,
		DeletionProtection: pulumi.Bool(a.DeletionProtection),
	}
	clusterOpts := []pulumi.ResourceOption{
		parent, pulumi.DependsOn(bindings),
		// Protected as well as deletion-protected in prod: `pulumi destroy` stops before asking GCP.
		pulumi.Protect(a.DeletionProtection),
		// A change of cni or autopilot replaces the cluster (datapath_provider and enable_autopilot are
		// ForceNew in terraform-provider-google's resource_container_cluster.go), and a new cluster beside the
		// old one asks for the same master range in the same VPC, which GKE refuses
		// (terraform-google-kubernetes-engine#1455): delete first. Prod stays protected, so this never
		// deletes a prod cluster without `pulumi state unprotect` first.
		pulumi.DeleteBeforeReplace(true),
	}
	if a.Autopilot {
		setAutopilot(clusterArgs, sa)
	} else {
		setStandard(clusterArgs, a.CNI, sa)
		// nodeConfig only describes the default pool, which is deleted right after creation; what GKE reports
		// for it later must never replace the cluster (its fields are ForceNew).
		clusterOpts = append(clusterOpts, pulumi.IgnoreChanges([]string{"nodeConfig"}))
	}
	cluster, err := container.NewCluster(ctx, name+"-cluster", clusterArgs, clusterOpts...)
	if err != nil {
		return nil, err
	}
	if !a.Autopilot {
		if err := newNodePool(ctx, name, &a, cluster, sa, labels, parent, pulumi.DependsOn(bindings)); err != nil {
			return nil, err
		}
	}

	c.Name = cluster.Name
	c.Endpoint = cluster.Endpoint
	kubeconfig := pulumi.All(cluster.Name, cluster.Endpoint, cluster.MasterAuth.ClusterCaCertificate()).ApplyT(
		func(v []any) (string, error) {
			ca, _ := v[2].(*string)
			if ca == nil {
				return "", errors.New("gke: the cluster has no CA certificate to put in the kubeconfig")
			}
			return Kubeconfig(KubeconfigInput{
				Project: a.Project, Region: a.location(), ClusterName: v[0].(string), Endpoint: v[1].(string), CACertificate: *ca,
			})
		}).(pulumi.StringOutput)
	c.Kubeconfig = pulumi.ToSecret(kubeconfig).(pulumi.StringOutput)
	c.CACertificate = cluster.MasterAuth.ClusterCaCertificate().Elem()

	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"name":          c.Name,
		"endpoint":      c.Endpoint,
		"kubeconfig":    c.Kubeconfig,
		"caCertificate": c.CACertificate,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// setStandard configures a Standard cluster: its default pool is replaced by ours, and the CNI decides the
// datapath and how NetworkPolicy is enforced.
func setStandard(args *container.ClusterArgs, cni string, sa *serviceaccount.Account) {
	// GKE cannot create a cluster without a pool; this one is deleted as soon as the cluster exists. Until
	// then its node runs as our account too, not as the Compute Engine default one, which may have lost its
	// roles or be disabled in a hardened project (pulumi/pulumi-gcp#2124, terraform-provider-google#9505).
	args.RemoveDefaultNodePool = pulumi.Bool(true)
	args.InitialNodeCount = pulumi.Int(1)
	args.NodeConfig = &container.ClusterNodeConfigArgs{
		ServiceAccount: sa.Email,
		OauthScopes:    pulumi.StringArray{pulumi.String(cloudPlatformScope)},
	}
	args.EnableShieldedNodes = pulumi.Bool(true)
	switch cni {
	case CNIDataplaneV2:
		// Dataplane V2 enforces NetworkPolicy itself; the API rejects it combined with the Calico network
		// policy, so networkPolicy stays unset and the addon disabled.
		args.DatapathProvider = pulumi.String("ADVANCED_DATAPATH")
		args.AddonsConfig = &container.ClusterAddonsConfigArgs{
			NetworkPolicyConfig: &container.ClusterAddonsConfigNetworkPolicyConfigArgs{Disabled: pulumi.Bool(true)},
		}
	case CNICalico:
		args.DatapathProvider = pulumi.String("LEGACY_DATAPATH")
		args.NetworkPolicy = &container.ClusterNetworkPolicyArgs{
			Enabled:  pulumi.Bool(true),
			Provider: pulumi.String("CALICO"),
		}
		args.AddonsConfig = &container.ClusterAddonsConfigArgs{
			NetworkPolicyConfig: &container.ClusterAddonsConfigNetworkPolicyConfigArgs{Disabled: pulumi.Bool(false)},
		}
	}
}

// setAutopilot configures an Autopilot cluster. Autopilot manages nodes, shielded nodes and Dataplane V2
// itself; the provider rejects enableShieldedNodes and the network policy addon with it. The nodes Autopilot
// creates run as our node service account instead of the Compute Engine default one.
func setAutopilot(args *container.ClusterArgs, sa *serviceaccount.Account) {
	args.EnableAutopilot = pulumi.Bool(true)
	args.ClusterAutoscaling = &container.ClusterClusterAutoscalingArgs{
		AutoProvisioningDefaults: &container.ClusterClusterAutoscalingAutoProvisioningDefaultsArgs{
			ServiceAccount: sa.Email,
			OauthScopes:    pulumi.StringArray{pulumi.String(cloudPlatformScope)},
		},
	}
}

func authorizedNetworks(cidrs []string, extra []AuthorizedNetwork) container.ClusterMasterAuthorizedNetworksConfigCidrBlockArray {
	var blocks container.ClusterMasterAuthorizedNetworksConfigCidrBlockArray
	for i, cidr := range cidrs {
		blocks = append(blocks, &container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs{
			CidrBlock:   pulumi.String(cidr),
			DisplayName: pulumi.Sprintf("admin-%d", i),
		})
	}
	for _, n := range extra {
		blocks = append(blocks, &container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs{
			CidrBlock:   n.CIDR,
			DisplayName: pulumi.String(n.Name),
		})
	}
	return blocks
}

// maintenancePolicy keeps automatic upgrades to the weekend window, and with an end time holds the upgrades
// that drain nodes until then (a training stack's expiresAt). A Spot pool can still lose nodes any time:
// Compute Engine preempts Spot VMs regardless of GKE's maintenance policy.
func maintenancePolicy(noUpgradesUntil string) *container.ClusterMaintenancePolicyArgs {
	p := &container.ClusterMaintenancePolicyArgs{
		RecurringWindow: &container.ClusterMaintenancePolicyRecurringWindowArgs{
			StartTime:  pulumi.String(maintenanceStart),
			EndTime:    pulumi.String(maintenanceEnd),
			Recurrence: pulumi.String(maintenanceRecurrence),
		},
	}
	end, err := time.Parse(time.RFC3339, noUpgradesUntil)
	if err != nil {
		return p // Validate has refused a malformed time; empty means no exclusion
	}
	// GKE returns times in UTC; sending UTC avoids a permanent diff.
	end = end.UTC()
	p.MaintenanceExclusions = container.ClusterMaintenancePolicyMaintenanceExclusionArray{
		&container.ClusterMaintenancePolicyMaintenanceExclusionArgs{
			ExclusionName: pulumi.String("class-in-session"),
			StartTime:     pulumi.String(end.Add(-noUpgradesLead).Format(time.RFC3339)),
			EndTime:       pulumi.String(end.Format(time.RFC3339)),
			ExclusionOptions: &container.ClusterMaintenancePolicyMaintenanceExclusionExclusionOptionsArgs{
				Scope: pulumi.String(noUpgradesScope),
			},
		},
	}
	return p
}

// enableAPIs turns on APIs in the project. disableOnDestroy is false: the project outlives the stack, and
// disabling an API another stack (or the teacher) uses would break it.
func enableAPIs(ctx *pulumi.Context, name string, a *ClusterArgs, parent pulumi.ResourceOption) ([]pulumi.Resource, error) {
	var out []pulumi.Resource
	for _, api := range APIs {
		s, err := projects.NewService(ctx, name+"-api-"+strings.TrimSuffix(api, ".googleapis.com"), &projects.ServiceArgs{
			Project:          pulumi.String(a.Project),
			Service:          pulumi.String(api),
			DisableOnDestroy: pulumi.Bool(false),
		}, parent)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// newWebhookFirewall lets the control plane reach admission webhooks on the nodes. It targets the node
// service account, which every node of the cluster (pool, default pool, Autopilot) runs as.
func newWebhookFirewall(ctx *pulumi.Context, name string, a *ClusterArgs, net *compute.Network, sa *serviceaccount.Account,
	opts ...pulumi.ResourceOption) error {
	_, err := compute.NewFirewall(ctx, name+"-webhooks", &compute.FirewallArgs{
		Project:     pulumi.String(a.Project),
		Network:     net.ID(),
		Description: pulumi.String("GKE control plane to admission webhooks on the nodes"),
		Direction:   pulumi.String("INGRESS"),
		SourceRanges: pulumi.StringArray{
			pulumi.String(a.MasterCidr),
		},
		TargetServiceAccounts: pulumi.StringArray{sa.Email},
		Allows: compute.FirewallAllowArray{
			&compute.FirewallAllowArgs{Protocol: pulumi.String("tcp"), Ports: pulumi.ToStringArray(WebhookPorts)},
		},
	}, opts...)
	return err
}

// newNetwork creates the VPC, the subnet with the pod and Service secondary ranges, and Cloud NAT so private
// nodes can pull images and updates.
func newNetwork(ctx *pulumi.Context, name string, a *ClusterArgs, parent pulumi.ResourceOption) (*compute.Network, *compute.Subnetwork, error) {
	net, err := compute.NewNetwork(ctx, name+"-vpc", &compute.NetworkArgs{
		Project:               pulumi.String(a.Project),
		AutoCreateSubnetworks: pulumi.Bool(false),
		RoutingMode:           pulumi.String("REGIONAL"),
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	subnet, err := compute.NewSubnetwork(ctx, name+"-subnet", &compute.SubnetworkArgs{
		Project:     pulumi.String(a.Project),
		Region:      pulumi.String(a.Region),
		Network:     net.ID(),
		IpCidrRange: pulumi.String(a.SubnetCidr),
		// Private nodes reach Google APIs (Artifact Registry, logging) without NAT.
		PrivateIpGoogleAccess: pulumi.Bool(true),
		SecondaryIpRanges: compute.SubnetworkSecondaryIpRangeArray{
			&compute.SubnetworkSecondaryIpRangeArgs{RangeName: pulumi.String(podsRangeName), IpCidrRange: pulumi.String(a.PodsCidr)},
			&compute.SubnetworkSecondaryIpRangeArgs{RangeName: pulumi.String(servicesRangeName), IpCidrRange: pulumi.String(a.ServicesCidr)},
		},
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	router, err := compute.NewRouter(ctx, name+"-router", &compute.RouterArgs{
		Project: pulumi.String(a.Project),
		Region:  pulumi.String(a.Region),
		Network: net.ID(),
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	_, err = compute.NewRouterNat(ctx, name+"-nat", &compute.RouterNatArgs{
		Project:                       pulumi.String(a.Project),
		Region:                        pulumi.String(a.Region),
		Router:                        router.Name,
		NatIpAllocateOption:           pulumi.String("AUTO_ONLY"),
		SourceSubnetworkIpRangesToNat: pulumi.String("ALL_SUBNETWORKS_ALL_IP_RANGES"),
		LogConfig: &compute.RouterNatLogConfigArgs{
			Enable: pulumi.Bool(true),
			Filter: pulumi.String("ERRORS_ONLY"),
		},
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	return net, subnet, nil
}

// newNodeServiceAccount creates the nodes' service account and grants it NodeRoles, one IAM member each (a
// member binding adds to the project policy instead of replacing it).
func newNodeServiceAccount(ctx *pulumi.Context, name string, a *ClusterArgs, parent pulumi.ResourceOption) (*serviceaccount.Account, []pulumi.Resource, error) {
	sa, err := serviceaccount.NewAccount(ctx, name+"-node-sa", &serviceaccount.AccountArgs{
		Project:     pulumi.String(a.Project),
		AccountId:   pulumi.String(nodeAccountID(ctx.Project(), ctx.Stack(), name)),
		DisplayName: pulumi.Sprintf("GKE nodes of %s (%s)", name, ctx.Stack()),
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	var bindings []pulumi.Resource
	for _, role := range NodeRoles {
		suffix := strings.ReplaceAll(strings.TrimPrefix(role, "roles/"), ".", "-")
		m, err := projects.NewIAMMember(ctx, name+"-node-sa-"+suffix, &projects.IAMMemberArgs{
			Project: pulumi.String(a.Project),
			Role:    pulumi.String(role),
			Member:  pulumi.Sprintf("serviceAccount:%s", sa.Email),
		}, parent)
		if err != nil {
			return nil, nil, err
		}
		bindings = append(bindings, m)
	}
	return sa, bindings, nil
}

var notAccountIDChar = regexp.MustCompile(`[^a-z0-9-]+`)

// nodeAccountID derives a service account ID (6-30 characters: a lowercase letter, then letters, digits and
// hyphens) that is stable for a stack and differs between stacks sharing a project, which GCP requires.
func nodeAccountID(project, stack, name string) string {
	sum := sha256.Sum256([]byte(project + "/" + stack + "/" + name))
	prefix := strings.Trim(notAccountIDChar.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if prefix == "" || prefix[0] < 'a' || prefix[0] > 'z' {
		prefix = "gke-" + prefix
	}
	if len(prefix) > 15 {
		prefix = strings.TrimRight(prefix[:15], "-")
	}
	return prefix + "-nodes-" + hex.EncodeToString(sum[:])[:8]
}

// newNodePool creates the autoscaling pool of a Standard cluster: shielded, auto-repaired and auto-upgraded
// nodes running as the dedicated service account, with the GKE metadata server in front of the node metadata
// (so pods get Workload Identity, never the node's credentials).
func newNodePool(ctx *pulumi.Context, name string, a *ClusterArgs, cluster *container.Cluster, sa *serviceaccount.Account,
	labels pulumi.StringMap, opts ...pulumi.ResourceOption) error {
	// initialNodeCount only sizes the new pool; GKE replaces a pool whose initialNodeCount changes, so a later
	// minNodes change must only move the autoscaler bounds.
	opts = append(opts, pulumi.IgnoreChanges([]string{"initialNodeCount"}))
	_, err := container.NewNodePool(ctx, name+"-nodes", &container.NodePoolArgs{
		Project:          pulumi.String(a.Project),
		Location:         pulumi.String(a.location()),
		Cluster:          cluster.Name,
		InitialNodeCount: pulumi.Int(a.MinNodes),
		Autoscaling: &container.NodePoolAutoscalingArgs{
			MinNodeCount: pulumi.Int(a.MinNodes),
			MaxNodeCount: pulumi.Int(a.MaxNodes),
		},
		Management: &container.NodePoolManagementArgs{
			AutoRepair:  pulumi.Bool(true),
			AutoUpgrade: pulumi.Bool(true),
		},
		NodeConfig: &container.NodePoolNodeConfigArgs{
			MachineType:    pulumi.String(a.MachineType),
			ImageType:      pulumi.String("COS_CONTAINERD"),
			DiskSizeGb:     pulumi.Int(a.DiskSizeGB),
			DiskType:       pulumi.String("pd-balanced"),
			Spot:           pulumi.Bool(a.Spot),
			ServiceAccount: sa.Email,
			OauthScopes:    pulumi.StringArray{pulumi.String(cloudPlatformScope)},
			Labels:         labels,
			ResourceLabels: labels,
			WorkloadMetadataConfig: &container.NodePoolNodeConfigWorkloadMetadataConfigArgs{
				Mode: pulumi.String("GKE_METADATA"),
			},
			ShieldedInstanceConfig: &container.NodePoolNodeConfigShieldedInstanceConfigArgs{
				EnableSecureBoot:          pulumi.Bool(true),
				EnableIntegrityMonitoring: pulumi.Bool(true),
			},
		},
	}, opts...)
	return err
}

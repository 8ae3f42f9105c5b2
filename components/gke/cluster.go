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

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/compute"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/container"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/projects"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// NodeRoles are the only project roles the node service account gets: write logs and metrics, read monitoring
// (the metrics agent needs it), write resource metadata, and pull images from Artifact Registry. The Compute
// Engine default account would instead have Editor on the whole project.
var NodeRoles = []string{
	"roles/logging.logWriter",
	"roles/monitoring.metricWriter",
	"roles/monitoring.viewer",
	"roles/stackdriver.resourceMetadata.writer",
	"roles/artifactregistry.reader",
}

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
	parent := pulumi.Parent(c)
	labels := pulumi.ToStringMap(a.labels())

	net, subnet, err := newNetwork(ctx, name, &a, parent)
	if err != nil {
		return nil, err
	}
	sa, bindings, err := newNodeServiceAccount(ctx, name, &a, parent)
	if err != nil {
		return nil, err
	}

	clusterArgs := &container.ClusterArgs{
		Project:        pulumi.String(a.Project),
		Location:       pulumi.String(a.Region),
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
			CidrBlocks: authorizedNetworks(a.AdminCidrs),
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
		EnableLegacyAbac:   pulumi.Bool(false),
		ReleaseChannel:     &container.ClusterReleaseChannelArgs{Channel: pulumi.String(a.ReleaseChannel)},
		ResourceLabels:     labels,
		DeletionProtection: pulumi.Bool(a.DeletionProtection),
	}
	if a.Autopilot {
		setAutopilot(clusterArgs, sa)
	} else {
		setStandard(clusterArgs, a.CNI)
	}
	// Protected as well as deletion-protected in prod: `pulumi destroy` stops before asking GCP.
	cluster, err := container.NewCluster(ctx, name+"-cluster", clusterArgs, parent, pulumi.DependsOn(bindings), pulumi.Protect(a.DeletionProtection))
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
				Project: a.Project, Region: a.Region, ClusterName: v[0].(string), Endpoint: v[1].(string), CACertificate: *ca,
			})
		}).(pulumi.StringOutput)
	c.Kubeconfig = pulumi.ToSecret(kubeconfig).(pulumi.StringOutput)

	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"name":       c.Name,
		"endpoint":   c.Endpoint,
		"kubeconfig": c.Kubeconfig,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// setStandard configures a Standard cluster: its default pool is replaced by ours, and the CNI decides the
// datapath and how NetworkPolicy is enforced.
func setStandard(args *container.ClusterArgs, cni string) {
	// GKE cannot create a cluster without a pool; this one is deleted as soon as the cluster exists.
	args.RemoveDefaultNodePool = pulumi.Bool(true)
	args.InitialNodeCount = pulumi.Int(1)
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

func authorizedNetworks(cidrs []string) container.ClusterMasterAuthorizedNetworksConfigCidrBlockArray {
	var blocks container.ClusterMasterAuthorizedNetworksConfigCidrBlockArray
	for i, cidr := range cidrs {
		blocks = append(blocks, &container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs{
			CidrBlock:   pulumi.String(cidr),
			DisplayName: pulumi.Sprintf("admin-%d", i),
		})
	}
	return blocks
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
		Location:         pulumi.String(a.Region),
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

package gke

import (
	"encoding/base64"
	"fmt"
	"sort"
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

const (
	testProject  = "deploylab-test"
	testRegion   = "asia-northeast3"
	testEndpoint = "203.0.113.10"
	testCAPEM    = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"
)

// mocks records every resource's inputs by logical name and answers with what GCP would compute: IDs in the
// provider's formats, the service account email, the cluster's endpoint and CA.
type mocks struct {
	mu        sync.Mutex
	resources map[string]pulumi.MockResourceArgs
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	m.resources[args.Name] = args
	m.mu.Unlock()
	outs := args.Inputs.Copy()
	id := args.Name + "-id"
	switch args.TypeToken {
	case "gcp:compute/network:Network":
		id = fmt.Sprintf("projects/%s/global/networks/%s", testProject, args.Name)
	case "gcp:compute/subnetwork:Subnetwork":
		id = fmt.Sprintf("projects/%s/regions/%s/subnetworks/%s", testProject, testRegion, args.Name)
	case "gcp:compute/router:Router":
		outs["name"] = resource.NewStringProperty(args.Name + "-gcp")
	case "gcp:serviceaccount/account:Account":
		outs["email"] = resource.NewStringProperty(args.Inputs["accountId"].StringValue() + "@" + testProject + ".iam.gserviceaccount.com")
	case "gcp:container/cluster:Cluster":
		outs["name"] = resource.NewStringProperty(args.Name + "-gcp")
		outs["endpoint"] = resource.NewStringProperty(testEndpoint)
		outs["masterAuth"] = resource.NewObjectProperty(resource.PropertyMap{
			"clusterCaCertificate": resource.NewStringProperty(base64.StdEncoding.EncodeToString([]byte(testCAPEM))),
		})
	}
	return id, outs, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("unexpected call %s", args.Token)
}

// deployment is what one run of NewCluster registered and returned.
type deployment struct {
	resources  map[string]pulumi.MockResourceArgs
	kubeconfig internals.UnsafeAwaitOutputResult
}

// inputs returns a resource's recorded inputs as plain Go values, failing if it does not exist or has
// another type.
func (d *deployment) inputs(t *testing.T, name, typeToken string) map[string]any {
	t.Helper()
	r, ok := d.resources[name]
	require.True(t, ok, "resource %s not registered; have %v", name, d.names())
	require.Equal(t, typeToken, r.TypeToken, "type of %s", name)
	return r.Inputs.Mappable()
}

func (d *deployment) names() []string {
	var names []string
	for n := range d.resources {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (d *deployment) ofType(typeToken string) []pulumi.MockResourceArgs {
	var out []pulumi.MockResourceArgs
	for _, n := range d.names() {
		if d.resources[n].TypeToken == typeToken {
			out = append(out, d.resources[n])
		}
	}
	return out
}

func deploy(t *testing.T, stack string, args *ClusterArgs) *deployment {
	t.Helper()
	m := &mocks{resources: map[string]pulumi.MockResourceArgs{}}
	d := &deployment{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		c, err := NewCluster(ctx, "gke", args)
		if err != nil {
			return err
		}
		d.kubeconfig, err = internals.UnsafeAwaitOutput(ctx.Context(), c.Kubeconfig)
		return err
	}, pulumi.WithMocks("deploylab", stack, m))
	require.NoError(t, err)
	d.resources = m.resources
	return d
}

func baseArgs() *ClusterArgs {
	return &ClusterArgs{
		Project:    testProject,
		Region:     testRegion,
		AdminCidrs: []string{"198.51.100.0/24", "203.0.113.7/32"},
		Labels:     map[string]string{"env": "dev", "owner": "DevOps Class", "expires-at": "2026-12-01T18:00:00+09:00"},
	}
}

var wantLabels = map[string]any{"env": "dev", "owner": "devops-class", "expires-at": "2026-12-01t18-00-00-09-00"}

const (
	clusterType = "gcp:container/cluster:Cluster"
	poolType    = "gcp:container/nodePool:NodePool"
)

// assertClusterBase pins the fields every variant shares: VPC-native private nodes, authorized networks,
// Workload Identity, no ABAC, no client certificate, release channel, labels.
func assertClusterBase(t *testing.T, d *deployment, deletionProtection bool) map[string]any {
	t.Helper()
	c := d.inputs(t, "gke-cluster", clusterType)
	assert.Equal(t, testProject, c["project"])
	assert.Equal(t, testRegion, c["location"])
	assert.Equal(t, "projects/deploylab-test/global/networks/gke-vpc", c["network"])
	assert.Equal(t, "projects/deploylab-test/regions/asia-northeast3/subnetworks/gke-subnet", c["subnetwork"])
	assert.Equal(t, "VPC_NATIVE", c["networkingMode"])
	assert.Equal(t, map[string]any{"clusterSecondaryRangeName": "pods", "servicesSecondaryRangeName": "services"}, c["ipAllocationPolicy"])
	assert.Equal(t, map[string]any{
		"enablePrivateNodes": true, "enablePrivateEndpoint": false, "masterIpv4CidrBlock": "172.16.0.0/28",
	}, c["privateClusterConfig"])
	assert.Equal(t, map[string]any{
		"cidrBlocks": []any{
			map[string]any{"cidrBlock": "198.51.100.0/24", "displayName": "admin-0"},
			map[string]any{"cidrBlock": "203.0.113.7/32", "displayName": "admin-1"},
		},
		"gcpPublicCidrsAccessEnabled": false,
	}, c["masterAuthorizedNetworksConfig"])
	assert.Equal(t, map[string]any{"clientCertificateConfig": map[string]any{"issueClientCertificate": false}}, c["masterAuth"])
	assert.Equal(t, map[string]any{"workloadPool": "deploylab-test.svc.id.goog"}, c["workloadIdentityConfig"])
	assert.Equal(t, false, c["enableLegacyAbac"])
	assert.Equal(t, map[string]any{"channel": "REGULAR"}, c["releaseChannel"])
	assert.Equal(t, wantLabels, c["resourceLabels"])
	assert.Equal(t, deletionProtection, c["deletionProtection"])
	assert.Equal(t, map[string]any{"recurringWindow": map[string]any{
		"startTime": "2026-01-03T16:00:00Z", "endTime": "2026-01-04T00:00:00Z", "recurrence": "FREQ=WEEKLY;BYDAY=SA,SU",
	}}, c["maintenancePolicy"], "upgrades on weekends only, no exclusion without noUpgradesUntil")
	rpc := d.resources["gke-cluster"].RegisterRPC
	assert.True(t, rpc.GetDeleteBeforeReplace(), "a replacement asks for the same master range: delete first")
	assert.Equal(t, deletionProtection, rpc.GetProtect())
	return c
}

// assertNetwork pins the VPC, the subnet's secondary ranges and Cloud NAT.
func assertNetwork(t *testing.T, d *deployment) {
	t.Helper()
	assert.Equal(t, map[string]any{"project": testProject, "autoCreateSubnetworks": false, "routingMode": "REGIONAL"},
		d.inputs(t, "gke-vpc", "gcp:compute/network:Network"))
	assert.Equal(t, map[string]any{
		"project": testProject, "region": testRegion, "network": "projects/deploylab-test/global/networks/gke-vpc",
		"ipCidrRange": "10.10.0.0/20", "privateIpGoogleAccess": true,
		"secondaryIpRanges": []any{
			map[string]any{"rangeName": "pods", "ipCidrRange": "10.20.0.0/14"},
			map[string]any{"rangeName": "services", "ipCidrRange": "10.24.0.0/20"},
		},
	}, d.inputs(t, "gke-subnet", "gcp:compute/subnetwork:Subnetwork"))
	assert.Equal(t, map[string]any{"project": testProject, "region": testRegion, "network": "projects/deploylab-test/global/networks/gke-vpc"},
		d.inputs(t, "gke-router", "gcp:compute/router:Router"))
	assert.Equal(t, map[string]any{
		"project": testProject, "region": testRegion, "router": "gke-router-gcp",
		"natIpAllocateOption": "AUTO_ONLY", "sourceSubnetworkIpRangesToNat": "ALL_SUBNETWORKS_ALL_IP_RANGES",
		"logConfig": map[string]any{"enable": true, "filter": "ERRORS_ONLY"},
	}, d.inputs(t, "gke-nat", "gcp:compute/routerNat:RouterNat"))
}

// assertNodePool pins the whole node pool of a Standard cluster.
func assertNodePool(t *testing.T, d *deployment, spot bool, labels map[string]any) {
	t.Helper()
	email := d.inputs(t, "gke-node-sa", "gcp:serviceaccount/account:Account")["accountId"].(string) + "@deploylab-test.iam.gserviceaccount.com"
	assert.Equal(t, map[string]any{
		"project": testProject, "location": testRegion, "cluster": "gke-cluster-gcp", "initialNodeCount": 1.0,
		"autoscaling": map[string]any{"minNodeCount": 1.0, "maxNodeCount": 3.0},
		"management":  map[string]any{"autoRepair": true, "autoUpgrade": true},
		"nodeConfig": map[string]any{
			"machineType": "e2-standard-2", "imageType": "COS_CONTAINERD", "diskSizeGb": 50.0, "diskType": "pd-balanced",
			"spot": spot, "serviceAccount": email,
			"oauthScopes":            []any{"https://www.googleapis.com/auth/cloud-platform"},
			"labels":                 labels,
			"resourceLabels":         labels,
			"workloadMetadataConfig": map[string]any{"mode": "GKE_METADATA"},
			"shieldedInstanceConfig": map[string]any{"enableSecureBoot": true, "enableIntegrityMonitoring": true},
		},
	}, d.inputs(t, "gke-nodes", poolType))
	assert.Equal(t, []string{"initialNodeCount"}, d.resources["gke-nodes"].RegisterRPC.GetIgnoreChanges(),
		"a later minNodes change must not replace the pool")
}

// nodeEmail is the node service account's email as the mock computes it.
func (d *deployment) nodeEmail(t *testing.T) string {
	t.Helper()
	return d.inputs(t, "gke-node-sa", "gcp:serviceaccount/account:Account")["accountId"].(string) + "@deploylab-test.iam.gserviceaccount.com"
}

// assertDefaultPoolAccount pins the temporary default pool of a Standard cluster to the node account
// (pulumi-gcp#2124), and checks that what GKE reports for that deleted pool can never replace the cluster.
func assertDefaultPoolAccount(t *testing.T, d *deployment, c map[string]any) {
	t.Helper()
	assert.Equal(t, map[string]any{
		"serviceAccount": d.nodeEmail(t), "oauthScopes": []any{"https://www.googleapis.com/auth/cloud-platform"},
	}, c["nodeConfig"])
	assert.Equal(t, []string{"nodeConfig"}, d.resources["gke-cluster"].RegisterRPC.GetIgnoreChanges())
}

// assertKubeconfig checks the kubeconfig output is a secret that authenticates with the GKE auth plugin
// against the cluster's endpoint and CA.
func assertKubeconfig(t *testing.T, d *deployment) {
	t.Helper()
	require.True(t, d.kubeconfig.Known)
	assert.True(t, d.kubeconfig.Secret, "kubeconfig must be a secret output")
	var kc struct {
		Clusters []struct {
			Cluster map[string]string `yaml:"cluster"`
		} `yaml:"clusters"`
		Users []struct {
			User struct {
				Exec map[string]any `yaml:"exec"`
			} `yaml:"user"`
		} `yaml:"users"`
		CurrentContext string `yaml:"current-context"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(d.kubeconfig.Value.(string)), &kc))
	require.Len(t, kc.Clusters, 1)
	assert.Equal(t, "https://"+testEndpoint, kc.Clusters[0].Cluster["server"])
	ca, err := base64.StdEncoding.DecodeString(kc.Clusters[0].Cluster["certificate-authority-data"])
	require.NoError(t, err)
	assert.Equal(t, testCAPEM, string(ca))
	require.Len(t, kc.Users, 1)
	assert.Equal(t, "gke-gcloud-auth-plugin", kc.Users[0].User.Exec["command"])
	assert.Equal(t, "client.authentication.k8s.io/v1beta1", kc.Users[0].User.Exec["apiVersion"])
	assert.Equal(t, "gke_deploylab-test_asia-northeast3_gke-cluster-gcp", kc.CurrentContext)
}

func TestDataplaneV2(t *testing.T) {
	t.Parallel()
	d := deploy(t, "dev", baseArgs())
	c := assertClusterBase(t, d, false)
	assert.Equal(t, "ADVANCED_DATAPATH", c["datapathProvider"])
	assert.NotContains(t, c, "networkPolicy", "Dataplane V2 enforces NetworkPolicy itself; the API rejects both")
	assert.Equal(t, map[string]any{"networkPolicyConfig": map[string]any{"disabled": true}}, c["addonsConfig"])
	assert.Equal(t, true, c["removeDefaultNodePool"])
	assert.Equal(t, 1.0, c["initialNodeCount"])
	assertDefaultPoolAccount(t, d, c)
	assert.Equal(t, true, c["enableShieldedNodes"])
	assert.NotContains(t, c, "enableAutopilot")
	assertNetwork(t, d)
	assertNodePool(t, d, false, wantLabels)
	assertKubeconfig(t, d)
}

func TestCalico(t *testing.T) {
	t.Parallel()
	args := baseArgs()
	args.CNI = "calico"
	d := deploy(t, "dev", args)
	c := assertClusterBase(t, d, false)
	assert.Equal(t, "LEGACY_DATAPATH", c["datapathProvider"])
	assert.Equal(t, map[string]any{"enabled": true, "provider": "CALICO"}, c["networkPolicy"])
	assert.Equal(t, map[string]any{"networkPolicyConfig": map[string]any{"disabled": false}}, c["addonsConfig"])
	assert.Equal(t, true, c["removeDefaultNodePool"])
	assert.Equal(t, true, c["enableShieldedNodes"])
	assertDefaultPoolAccount(t, d, c)
	assertNetwork(t, d)
	assertNodePool(t, d, false, wantLabels)
	assertKubeconfig(t, d)
}

func TestAutopilot(t *testing.T) {
	t.Parallel()
	args := baseArgs()
	args.Autopilot = true
	d := deploy(t, "dev", args)
	c := assertClusterBase(t, d, false)
	assert.Equal(t, true, c["enableAutopilot"])
	// Autopilot brings Dataplane V2, shielded nodes and its own nodes; the provider rejects these with it.
	for _, key := range []string{"datapathProvider", "networkPolicy", "addonsConfig", "enableShieldedNodes", "removeDefaultNodePool", "initialNodeCount", "nodeConfig"} {
		assert.NotContains(t, c, key)
	}
	email := d.inputs(t, "gke-node-sa", "gcp:serviceaccount/account:Account")["accountId"].(string) + "@deploylab-test.iam.gserviceaccount.com"
	assert.Equal(t, map[string]any{"autoProvisioningDefaults": map[string]any{
		"serviceAccount": email, "oauthScopes": []any{"https://www.googleapis.com/auth/cloud-platform"},
	}}, c["clusterAutoscaling"])
	assert.Empty(t, d.ofType(poolType), "Autopilot has no node pools")
	assert.Empty(t, d.resources["gke-cluster"].RegisterRPC.GetIgnoreChanges())
	assertNetwork(t, d)
	assertKubeconfig(t, d)
}

// TestProdVersusTraining pins what the environment changes: deletion protection in prod only (otherwise
// `pulumi destroy` of a training stack fails, pulumi-gcp#1394) and Spot nodes in training.
func TestProdVersusTraining(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		stack              string
		deletionProtection bool
		spot               bool
	}{
		{stack: "prod", deletionProtection: true, spot: false},
		{stack: "training", deletionProtection: false, spot: true},
		{stack: "dev", deletionProtection: false, spot: false},
	} {
		t.Run(tc.stack, func(t *testing.T) {
			t.Parallel()
			args := baseArgs()
			args.Labels["env"] = tc.stack
			args.DeletionProtection = tc.deletionProtection
			args.Spot = tc.spot
			d := deploy(t, tc.stack, args)
			labels := map[string]any{"env": tc.stack, "owner": "devops-class", "expires-at": "2026-12-01t18-00-00-09-00"}
			c := d.inputs(t, "gke-cluster", clusterType)
			assert.Equal(t, tc.deletionProtection, c["deletionProtection"])
			assert.Equal(t, labels, c["resourceLabels"])
			assertNodePool(t, d, tc.spot, labels)
		})
	}
}

// TestNodeServiceAccount pins the node account's roles to exactly NodeRoles, each bound to that account alone,
// and checks the cluster and pool wait for the bindings (nodes that boot without them cannot log or pull).
func TestNodeServiceAccount(t *testing.T) {
	t.Parallel()
	d := deploy(t, "dev", baseArgs())
	sa := d.inputs(t, "gke-node-sa", "gcp:serviceaccount/account:Account")
	accountID := sa["accountId"].(string)
	assert.Regexp(t, `^[a-z][a-z0-9-]{4,28}[a-z0-9]$`, accountID)
	member := "serviceAccount:" + accountID + "@deploylab-test.iam.gserviceaccount.com"
	var roles []string
	var bindings []string
	for _, m := range d.ofType("gcp:projects/iAMMember:IAMMember") {
		in := m.Inputs.Mappable()
		assert.Equal(t, member, in["member"])
		assert.Equal(t, testProject, in["project"])
		assert.NotContains(t, in, "condition")
		roles = append(roles, in["role"].(string))
		bindings = append(bindings, m.Name)
	}
	assert.ElementsMatch(t, []string{"roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader"}, roles)
	for _, name := range []string{"gke-cluster", "gke-nodes"} {
		deps := d.resources[name].RegisterRPC.GetDependencies()
		for _, b := range bindings {
			assert.True(t, containsSuffix(deps, "::"+b), "%s must depend on %s; depends on %v", name, b, deps)
		}
	}
}

func containsSuffix(list []string, suffix string) bool {
	for _, s := range list {
		if strings.HasSuffix(s, suffix) {
			return true
		}
	}
	return false
}

func TestNodeAccountIDDiffersPerStack(t *testing.T) {
	t.Parallel()
	ids := map[string]bool{}
	for _, stack := range []string{"dev", "prod", "training", "training-2"} {
		for _, name := range []string{"gke", "A_Very-Long Component Name With Spaces", "9lives"} {
			id := nodeAccountID("deploylab", stack, name)
			assert.Regexp(t, `^[a-z][a-z0-9-]{4,28}[a-z0-9]$`, id, "stack %s name %q", stack, name)
			assert.False(t, ids[id], "duplicate id %s", id)
			ids[id] = true
		}
	}
}

func TestNewClusterRefusesBadArgs(t *testing.T) {
	t.Parallel()
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := NewCluster(ctx, "gke", nil)
		return err
	}, pulumi.WithMocks("deploylab", "dev", &mocks{resources: map[string]pulumi.MockResourceArgs{}}))
	require.ErrorContains(t, err, "gke: NewCluster needs args")

	m := &mocks{resources: map[string]pulumi.MockResourceArgs{}}
	err = pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := NewCluster(ctx, "gke", &ClusterArgs{CNI: "weave", AdminCidrs: []string{"0.0.0.0/0"}})
		return err
	}, pulumi.WithMocks("deploylab", "dev", m))
	require.Error(t, err)
	for _, want := range []string{
		"project: required", "region: required", `cni: "weave" is not one of dataplane-v2, calico`,
		`adminCidrs[0]: "0.0.0.0/0" opens the Kubernetes API to the whole internet`,
	} {
		assert.Contains(t, err.Error(), want)
	}
	assert.Empty(t, m.resources, "nothing may be created from invalid args")
}

// TestAPIsEnabledFirst pins the four APIs a fresh project needs, never disabled on destroy, and checks every
// other resource of the component waits for all of them.
func TestAPIsEnabledFirst(t *testing.T) {
	t.Parallel()
	for _, autopilot := range []bool{false, true} {
		args := baseArgs()
		args.Autopilot = autopilot
		d := deploy(t, "dev", args)
		var apiNames []string
		for _, api := range []string{"compute", "container", "iam", "cloudresourcemanager"} {
			name := "gke-api-" + api
			assert.Equal(t, map[string]any{"project": testProject, "service": api + ".googleapis.com", "disableOnDestroy": false},
				d.inputs(t, name, "gcp:projects/service:Service"))
			apiNames = append(apiNames, name)
		}
		for _, name := range d.names() {
			r := d.resources[name]
			if r.TypeToken == "gcp:projects/service:Service" || !r.Custom {
				continue
			}
			for _, api := range apiNames {
				assert.True(t, containsSuffix(r.RegisterRPC.GetDependencies(), "::"+api),
					"autopilot=%v: %s must depend on %s", autopilot, name, api)
			}
		}
	}
}

// TestWebhookFirewall pins the rule that lets the control plane call admission webhooks on the nodes: from
// the master range only, to the node account's VMs only, on 8443 and 9443 only.
func TestWebhookFirewall(t *testing.T) {
	t.Parallel()
	for _, autopilot := range []bool{false, true} {
		args := baseArgs()
		args.Autopilot = autopilot
		d := deploy(t, "dev", args)
		assert.Equal(t, map[string]any{
			"project": testProject, "network": "projects/deploylab-test/global/networks/gke-vpc",
			"description": "GKE control plane to admission webhooks on the nodes", "direction": "INGRESS",
			"sourceRanges":          []any{"172.16.0.0/28"},
			"targetServiceAccounts": []any{d.nodeEmail(t)},
			"allows":                []any{map[string]any{"protocol": "tcp", "ports": []any{"8443", "9443"}}},
		}, d.inputs(t, "gke-webhooks", "gcp:compute/firewall:Firewall"))
	}
}

// TestZonal pins a zonal cluster: cluster and pool in the zone, network and NAT in its region, and the
// kubeconfig named as gcloud names a zonal cluster.
func TestZonal(t *testing.T) {
	t.Parallel()
	args := baseArgs()
	args.Zone = testRegion + "-a"
	d := deploy(t, "training", args)
	assert.Equal(t, "asia-northeast3-a", d.inputs(t, "gke-cluster", clusterType)["location"])
	assert.Equal(t, "asia-northeast3-a", d.inputs(t, "gke-nodes", poolType)["location"])
	assert.Equal(t, testRegion, d.inputs(t, "gke-subnet", "gcp:compute/subnetwork:Subnetwork")["region"])
	assert.Equal(t, testRegion, d.inputs(t, "gke-nat", "gcp:compute/routerNat:RouterNat")["region"])
	assert.Contains(t, d.kubeconfig.Value.(string), "current-context: gke_deploylab-test_asia-northeast3-a_gke-cluster-gcp")
}

// TestNoUpgradesUntil pins the class exclusion: it ends at the given time in UTC, holds the upgrades that
// drain nodes, and starts at a fixed time before it so every preview plans the same value.
func TestNoUpgradesUntil(t *testing.T) {
	t.Parallel()
	args := baseArgs()
	args.NoUpgradesUntil = "2026-12-18T18:00:00+09:00"
	d := deploy(t, "training", args)
	assert.Equal(t, map[string]any{
		"recurringWindow": map[string]any{
			"startTime": "2026-01-03T16:00:00Z", "endTime": "2026-01-04T00:00:00Z", "recurrence": "FREQ=WEEKLY;BYDAY=SA,SU",
		},
		"maintenanceExclusions": []any{map[string]any{
			"exclusionName": "class-in-session", "startTime": "2026-09-19T09:00:00Z", "endTime": "2026-12-18T09:00:00Z",
			"exclusionOptions": map[string]any{"scope": "NO_MINOR_OR_NODE_UPGRADES"},
		}},
	}, d.inputs(t, "gke-cluster", clusterType)["maintenancePolicy"])
}

// TestExtraAuthorizedNetworks checks student hosts' addresses join the admins' in master authorized networks.
func TestExtraAuthorizedNetworks(t *testing.T) {
	t.Parallel()
	args := baseArgs()
	args.ExtraAuthorizedNetworks = []AuthorizedNetwork{
		{Name: "student-alice", CIDR: pulumi.String("192.0.2.10/32")},
		{Name: "student-bob", CIDR: pulumi.Sprintf("%s/32", pulumi.String("192.0.2.11"))},
	}
	d := deploy(t, "training", args)
	assert.Equal(t, []any{
		map[string]any{"cidrBlock": "198.51.100.0/24", "displayName": "admin-0"},
		map[string]any{"cidrBlock": "203.0.113.7/32", "displayName": "admin-1"},
		map[string]any{"cidrBlock": "192.0.2.10/32", "displayName": "student-alice"},
		map[string]any{"cidrBlock": "192.0.2.11/32", "displayName": "student-bob"},
	}, d.inputs(t, "gke-cluster", clusterType)["masterAuthorizedNetworksConfig"].(map[string]any)["cidrBlocks"])
}

package gke

import (
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// CNI values accepted by ClusterArgs.CNI.
const (
	// CNIDataplaneV2 is GKE Dataplane V2: Cilium/eBPF (datapathProvider ADVANCED_DATAPATH), which enforces
	// NetworkPolicy itself.
	CNIDataplaneV2 = "dataplane-v2"
	// CNICalico is the legacy datapath with Calico enforcing NetworkPolicy.
	CNICalico = "calico"
)

var (
	cnis            = []string{CNIDataplaneV2, CNICalico}
	releaseChannels = []string{"RAPID", "REGULAR", "STABLE"}
)

// Defaults applied by SetDefaults, named so the docs and tests refer to one place.
const (
	DefaultMachineType    = "e2-standard-2"
	DefaultMinNodes       = 1
	DefaultMaxNodes       = 3
	DefaultReleaseChannel = "REGULAR"
	DefaultDiskSizeGB     = 50
	DefaultSubnetCidr     = "10.10.0.0/20"  // 4,096 node addresses
	DefaultPodsCidr       = "10.20.0.0/14"  // GKE's default pod range size: 1,024 nodes at 110 pods each
	DefaultServicesCidr   = "10.24.0.0/20"  // 4,096 Service ClusterIPs
	DefaultMasterCidr     = "172.16.0.0/28" // the control plane's peered range; GKE requires exactly /28
)

// ClusterArgs configure a GKE cluster. Keys in messages are relative to `deploylab:gke`.
type ClusterArgs struct {
	// Project is the GCP project ID. Required.
	Project string
	// Region is the GCP region of the network, and of the cluster unless Zone is set. Required.
	Region string
	// Zone makes the cluster zonal: one control plane and the node pool in this zone of Region. Optional, default
	// "" (regional: three control plane replicas, and MinNodes/MaxNodes apply in each of the region's three
	// zones). A zonal cluster costs a third of the nodes and its management fee is covered by GKE's free tier
	// (one zonal or Autopilot cluster per billing account); its API is unavailable during a control plane
	// upgrade, which the maintenance policy keeps out of class hours.
	Zone string
	// CNI is dataplane-v2 (default) or calico. Must stay empty or dataplane-v2 with Autopilot.
	CNI string
	// Autopilot creates an Autopilot cluster: Google runs the nodes, there is no node pool, and MachineType,
	// MinNodes, MaxNodes, Spot and DiskSizeGB are not used. Optional, default false.
	Autopilot bool
	// MachineType of the node pool. Optional, default e2-standard-2.
	MachineType string
	// MinNodes and MaxNodes bound the node pool autoscaler per zone (a regional pool has nodes in three zones).
	// Optional, default 1 and 3. 0 means the default: the only pool runs kube-system, so it cannot scale to zero.
	MinNodes, MaxNodes int
	// Spot runs the node pool on Spot VMs (cheaper, may be preempted). Optional, default false; the infra
	// package turns it on for training stacks.
	Spot bool
	// ReleaseChannel is RAPID, REGULAR (default) or STABLE.
	ReleaseChannel string
	// SubnetCidr is the node subnet. Optional, default 10.10.0.0/20.
	SubnetCidr string
	// PodsCidr is the subnet's secondary range for pods. Optional, default 10.20.0.0/14.
	PodsCidr string
	// ServicesCidr is the subnet's secondary range for Services. Optional, default 10.24.0.0/20.
	ServicesCidr string
	// MasterCidr is the /28 the private control plane uses. Optional, default 172.16.0.0/28.
	MasterCidr string
	// AdminCidrs may reach the Kubernetes API (master authorized networks). Required: at least one IPv4 CIDR;
	// 0.0.0.0/0 is refused.
	AdminCidrs []string
	// Labels go on every resource that takes labels. Keys must be valid GCP label keys; values are raw and are
	// made valid by LabelValue (so an RFC 3339 expiry can be passed as it is). Optional.
	Labels map[string]string
	// DeletionProtection makes GKE refuse to delete the cluster. Optional, default false; the infra package sets
	// it in prod only, because with it `pulumi destroy` fails (pulumi-gcp#1394).
	DeletionProtection bool
	// DiskSizeGB is the boot disk size of each node. Optional, default 50 (GKE's own default is 100).
	DiskSizeGB int
	// ExtraAuthorizedNetworks may also reach the Kubernetes API: the public /32 of each student host of a
	// training stack, known only once the hosts exist. Optional.
	ExtraAuthorizedNetworks []AuthorizedNetwork
	// NoUpgradesUntil, an RFC 3339 time, adds a maintenance exclusion that holds minor and node upgrades (the
	// ones that drain nodes) until then: a class's expiresAt. Optional, default "" (no exclusion; the
	// weekend maintenance window alone applies).
	NoUpgradesUntil string
}

// AuthorizedNetwork is one more CIDR allowed to reach the Kubernetes API.
type AuthorizedNetwork struct {
	// Name is shown in the cluster's settings (such as "student-alice"). Required.
	Name string
	// CIDR is an IPv4 CIDR such as 203.0.113.5/32. Required.
	CIDR pulumi.StringInput
}

// SetDefaults fills every optional field left empty. It is the only place defaults live.
func (a *ClusterArgs) SetDefaults() {
	if a.CNI == "" {
		a.CNI = CNIDataplaneV2
	}
	if a.MachineType == "" {
		a.MachineType = DefaultMachineType
	}
	if a.MinNodes == 0 {
		a.MinNodes = DefaultMinNodes
	}
	if a.MaxNodes == 0 {
		a.MaxNodes = DefaultMaxNodes
	}
	if a.ReleaseChannel == "" {
		a.ReleaseChannel = DefaultReleaseChannel
	}
	if a.DiskSizeGB == 0 {
		a.DiskSizeGB = DefaultDiskSizeGB
	}
	setDefault(&a.SubnetCidr, DefaultSubnetCidr)
	setDefault(&a.PodsCidr, DefaultPodsCidr)
	setDefault(&a.ServicesCidr, DefaultServicesCidr)
	setDefault(&a.MasterCidr, DefaultMasterCidr)
}

func setDefault(field *string, value string) {
	if *field == "" {
		*field = value
	}
}

var (
	// projectID is GCP's rule for project IDs: 6-30 characters, lowercase letters, digits and hyphens, starting
	// with a letter and not ending with a hyphen.
	projectID = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	// regionName matches regions such as us-central1, asia-northeast3, northamerica-northeast2.
	regionName = regexp.MustCompile(`^[a-z]+-[a-z]+[0-9]+$`)
	zoneName   = regexp.MustCompile(`^([a-z]+-[a-z]+[0-9]+)-[a-z]$`)
	// machineTypeName matches Compute Engine machine types such as e2-standard-2 or n2d-custom-4-16384.
	machineTypeName = regexp.MustCompile(`^[a-z][a-z0-9]*-[a-z0-9-]*[a-z0-9]$`)
	// labelKey is GCP's rule for label keys (international characters aside).
	labelKey = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
)

// Validate returns every problem of the (defaulted) args, one line each, starting with the config key.
// MaxAuthorizedNetworks is what GKE accepts in master authorized networks ("cidr_blocks define up to 50 external
// networks", container API v1 MasterAuthorizedNetworksConfig); a mock accepts any number.
const MaxAuthorizedNetworks = 50

func (a *ClusterArgs) Validate() []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	switch {
	case a.Project == "":
		add("project: required: the GCP project ID to create the cluster in")
	case !projectID.MatchString(a.Project):
		add("project: %q is not a GCP project ID (6-30 lowercase letters, digits and hyphens, starting with a letter)", a.Project)
	}
	switch {
	case a.Region == "":
		add("region: required: a GCP region such as asia-northeast3")
	case zoneName.MatchString(a.Region):
		add("region: %q is a zone; give its region %s (and zone: %s for a zonal cluster)", a.Region,
			zoneName.FindStringSubmatch(a.Region)[1], a.Region)
	case !regionName.MatchString(a.Region):
		add("region: %q is not a GCP region name (such as asia-northeast3 or us-central1)", a.Region)
	}
	if a.Zone != "" {
		m := zoneName.FindStringSubmatch(a.Zone)
		switch {
		case m == nil:
			add("zone: %q is not a GCP zone name (such as asia-northeast3-a); leave it empty for a regional cluster", a.Zone)
		case a.Region != "" && m[1] != a.Region:
			add("zone: %q is not in region %q; want a zone such as %s-a", a.Zone, a.Region, a.Region)
		}
	}
	for i, n := range a.ExtraAuthorizedNetworks {
		if n.Name == "" || n.CIDR == nil {
			add("extraAuthorizedNetworks[%d]: needs a name and a CIDR (got name %q)", i, n.Name)
		}
	}
	if n := len(a.AdminCidrs) + len(a.ExtraAuthorizedNetworks); n > MaxAuthorizedNetworks {
		add("adminCidrs: %d of them plus %d student hosts make %d master authorized networks; GKE accepts at most %d "+
			"(container API v1 MasterAuthorizedNetworksConfig.cidr_blocks): fewer adminCidrs, or a smaller class per cluster",
			len(a.AdminCidrs), len(a.ExtraAuthorizedNetworks), n, MaxAuthorizedNetworks)
	}
	if a.NoUpgradesUntil != "" {
		if _, err := time.Parse(time.RFC3339, a.NoUpgradesUntil); err != nil {
			add("noUpgradesUntil: %q is not an RFC 3339 time (such as 2026-12-01T18:00:00+09:00)", a.NoUpgradesUntil)
		}
	}
	if !oneOf(cnis, a.CNI) {
		add("cni: %q is not one of %s", a.CNI, strings.Join(cnis, ", "))
	}
	if a.Autopilot && a.CNI == CNICalico {
		add("cni: calico cannot be used with autopilot: true (Autopilot has Dataplane V2 built in)")
	}
	if !oneOf(releaseChannels, a.ReleaseChannel) {
		add("releaseChannel: %q is not one of %s", a.ReleaseChannel, strings.Join(releaseChannels, ", "))
	}
	if !a.Autopilot {
		problems = append(problems, a.validateNodePool()...)
	}
	problems = append(problems, a.validateRanges()...)
	problems = append(problems, validateAdminCidrs(a.AdminCidrs)...)
	for _, key := range slices.Sorted(maps.Keys(a.Labels)) {
		if !labelKey.MatchString(key) {
			add("labels: key %q is not a GCP label key (a lowercase letter, then up to 62 of a-z 0-9 _ -)", key)
		}
	}
	return problems
}

func (a *ClusterArgs) validateNodePool() []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if !machineTypeName.MatchString(a.MachineType) {
		add("machineType: %q is not a Compute Engine machine type (such as e2-standard-2)", a.MachineType)
	}
	if a.MinNodes < 0 {
		add("minNodes: %d is negative; want 1 or more nodes per zone", a.MinNodes)
	}
	if a.MaxNodes < 0 {
		add("maxNodes: %d is negative; want 1 or more nodes per zone", a.MaxNodes)
	}
	// GKE caps a node pool at 1,000 nodes per zone.
	if a.MaxNodes > 1000 {
		add("maxNodes: %d exceeds GKE's limit of 1000 nodes per zone", a.MaxNodes)
	}
	if a.MinNodes > a.MaxNodes && a.MaxNodes >= 0 {
		add("minNodes: %d > maxNodes %d", a.MinNodes, a.MaxNodes)
	}
	if a.DiskSizeGB < 10 {
		add("diskSizeGB: %d is below GKE's minimum boot disk of 10 GB", a.DiskSizeGB)
	}
	return problems
}

// privateRanges are the ranges GKE accepts for VPC-native node, pod and Service ranges without extra setup.
var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
}

// validateRanges checks the four VPC-native ranges: each a private IPv4 network address of a workable size,
// and no two overlapping (GKE and the VPC refuse overlaps, late and with less clear messages).
func (a *ClusterArgs) validateRanges() []string {
	ranges := []struct {
		key, value string
		maxBits    int // the longest prefix (smallest range) checked here; GKE checks pod and Service sizes itself
	}{
		{"subnetCidr", a.SubnetCidr, 29}, // a Compute Engine subnet is at least a /29
		{"podsCidr", a.PodsCidr, 32},
		{"servicesCidr", a.ServicesCidr, 32},
		{"masterCidr", a.MasterCidr, 28},
	}
	var problems []string
	parsed := map[string]netip.Prefix{}
	for _, r := range ranges {
		p, problem := parseNetwork(r.key, r.value)
		switch {
		case problem != "":
			problems = append(problems, problem)
			continue
		case !p.Addr().Is4():
			problems = append(problems, fmt.Sprintf("%s: %q is not IPv4; GKE's VPC-native ranges are IPv4", r.key, r.value))
			continue
		case !insideAny(p, privateRanges):
			problems = append(problems, fmt.Sprintf("%s: %q is not a private range (want inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10)", r.key, r.value))
			continue
		case r.key == "masterCidr" && p.Bits() != 28:
			problems = append(problems, fmt.Sprintf("masterCidr: %q must be a /28 (GKE's control plane range is exactly 16 addresses)", r.value))
			continue
		case p.Bits() > r.maxBits:
			problems = append(problems, fmt.Sprintf("%s: %q is too small; want /%d or larger", r.key, r.value, r.maxBits))
			continue
		}
		parsed[r.key] = p
	}
	for i, x := range ranges {
		for _, y := range ranges[i+1:] {
			px, okx := parsed[x.key]
			py, oky := parsed[y.key]
			if okx && oky && px.Overlaps(py) {
				problems = append(problems, fmt.Sprintf("%s: %q overlaps %s %q; the ranges must be disjoint", y.key, y.value, x.key, x.value))
			}
		}
	}
	return problems
}

func validateAdminCidrs(cidrs []string) []string {
	if len(cidrs) == 0 {
		return []string{"adminCidrs: required: at least one IPv4 CIDR that may reach the Kubernetes API"}
	}
	var problems []string
	for i, c := range cidrs {
		key := fmt.Sprintf("adminCidrs[%d]", i)
		p, problem := parseNetwork(key, c)
		switch {
		case problem != "":
			problems = append(problems, problem)
		case !p.Addr().Is4():
			problems = append(problems, fmt.Sprintf("%s: %q is not IPv4; GKE master authorized networks take IPv4 CIDRs only", key, c))
		case p.Bits() == 0:
			problems = append(problems, fmt.Sprintf("%s: %q opens the Kubernetes API to the whole internet; list the networks of your admins", key, c))
		}
	}
	return problems
}

// parseNetwork parses a CIDR that must be a network address (no host bits), the form GCP's APIs require.
func parseNetwork(key, value string) (netip.Prefix, string) {
	p, err := netip.ParsePrefix(value)
	if err != nil {
		return p, fmt.Sprintf("%s: %q is not a CIDR (want an address/prefix such as 10.10.0.0/20)", key, value)
	}
	if p.Masked() != p {
		return p, fmt.Sprintf("%s: %q has host bits set; did you mean %s?", key, value, p.Masked())
	}
	return p, ""
}

func insideAny(p netip.Prefix, within []netip.Prefix) bool {
	for _, w := range within {
		if w.Bits() <= p.Bits() && w.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

func oneOf(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// location is where the cluster and its pool live: the zone of a zonal cluster, else the region.
func (a *ClusterArgs) location() string {
	if a.Zone != "" {
		return a.Zone
	}
	return a.Region
}

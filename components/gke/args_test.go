package gke

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSetDefaults(t *testing.T) {
	t.Parallel()
	a := &ClusterArgs{Project: "p", Region: "r"}
	a.SetDefaults()
	assert.Equal(t, &ClusterArgs{
		Project: "p", Region: "r", CNI: "dataplane-v2", MachineType: "e2-standard-2", MinNodes: 1, MaxNodes: 3,
		ReleaseChannel: "REGULAR", DiskSizeGB: 50,
		SubnetCidr: "10.10.0.0/20", PodsCidr: "10.20.0.0/14", ServicesCidr: "10.24.0.0/20", MasterCidr: "172.16.0.0/28",
	}, a)

	set := &ClusterArgs{CNI: "calico", MachineType: "n2-standard-4", MinNodes: 2, MaxNodes: 5, ReleaseChannel: "STABLE",
		DiskSizeGB: 100, SubnetCidr: "10.0.0.0/24", PodsCidr: "10.4.0.0/16", ServicesCidr: "10.8.0.0/22", MasterCidr: "192.168.0.0/28"}
	want := *set
	set.SetDefaults()
	assert.Equal(t, &want, set, "SetDefaults must keep values that are set")
}

func validArgs() ClusterArgs {
	a := ClusterArgs{Project: "my-gcp-project", Region: "asia-northeast3", AdminCidrs: []string{"198.51.100.0/24"},
		Labels: map[string]string{"env": "dev", "owner": "x", "expires-at": ""}}
	a.SetDefaults()
	return a
}

func TestValidateAcceptsEveryVariant(t *testing.T) {
	t.Parallel()
	for name, change := range map[string]func(*ClusterArgs){
		"dataplane-v2": func(*ClusterArgs) {},
		"calico":       func(a *ClusterArgs) { a.CNI = "calico" },
		"autopilot":    func(a *ClusterArgs) { a.Autopilot = true },
		"spot-prod":    func(a *ClusterArgs) { a.Spot, a.DeletionProtection = true, true },
		"one-node":     func(a *ClusterArgs) { a.MinNodes, a.MaxNodes = 1, 1 },
		"cgnat-ranges": func(a *ClusterArgs) { a.PodsCidr = "100.64.0.0/14" },
		"zonal":        func(a *ClusterArgs) { a.Zone = "asia-northeast3-c" },
		"class":        func(a *ClusterArgs) { a.NoUpgradesUntil = "2026-12-18T18:00:00+09:00" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := validArgs()
			change(&a)
			assert.Empty(t, a.Validate())
		})
	}
}

// TestValidateRejects lists every invalid combination with the exact messages, so a user always sees the key,
// the value and what is accepted.
func TestValidateRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*ClusterArgs)
		want   []string
	}{
		{"unknown cni", func(a *ClusterArgs) { a.CNI = "weave" },
			[]string{`cni: "weave" is not one of dataplane-v2, calico`}},
		{"calico with autopilot", func(a *ClusterArgs) { a.CNI, a.Autopilot = "calico", true },
			[]string{"cni: calico cannot be used with autopilot: true (Autopilot has Dataplane V2 built in)"}},
		{"min above max", func(a *ClusterArgs) { a.MinNodes, a.MaxNodes = 4, 3 },
			[]string{"minNodes: 4 > maxNodes 3"}},
		{"negative nodes", func(a *ClusterArgs) { a.MinNodes, a.MaxNodes = -1, -2 },
			[]string{"minNodes: -1 is negative; want 1 or more nodes per zone", "maxNodes: -2 is negative; want 1 or more nodes per zone"}},
		{"too many nodes", func(a *ClusterArgs) { a.MaxNodes = 1001 },
			[]string{"maxNodes: 1001 exceeds GKE's limit of 1000 nodes per zone"}},
		{"node limits ignored by autopilot", func(a *ClusterArgs) { a.Autopilot, a.MinNodes, a.MachineType = true, 9, "bogus" },
			nil},
		{"missing project and region", func(a *ClusterArgs) { a.Project, a.Region = "", "" },
			[]string{"project: required: the GCP project ID to create the cluster in", "region: required: a GCP region such as asia-northeast3"}},
		{"bad project id", func(a *ClusterArgs) { a.Project = "My_Project" },
			[]string{`project: "My_Project" is not a GCP project ID (6-30 lowercase letters, digits and hyphens, starting with a letter)`}},
		{"zone for region", func(a *ClusterArgs) { a.Region = "asia-northeast3-a" },
			[]string{`region: "asia-northeast3-a" is a zone; give its region asia-northeast3 (and zone: asia-northeast3-a for a zonal cluster)`}},
		{"zone outside the region", func(a *ClusterArgs) { a.Zone = "us-central1-a" },
			[]string{`zone: "us-central1-a" is not in region "asia-northeast3"; want a zone such as asia-northeast3-a`}},
		{"region for zone", func(a *ClusterArgs) { a.Zone = "asia-northeast3" },
			[]string{`zone: "asia-northeast3" is not a GCP zone name (such as asia-northeast3-a); leave it empty for a regional cluster`}},
		{"bad exclusion end", func(a *ClusterArgs) { a.NoUpgradesUntil = "next friday" },
			[]string{`noUpgradesUntil: "next friday" is not an RFC 3339 time (such as 2026-12-01T18:00:00+09:00)`}},
		{"authorized network without a CIDR", func(a *ClusterArgs) { a.ExtraAuthorizedNetworks = []AuthorizedNetwork{{Name: "student-x"}} },
			[]string{`extraAuthorizedNetworks[0]: needs a name and a CIDR (got name "student-x")`}},
		{"bad region", func(a *ClusterArgs) { a.Region = "Seoul" },
			[]string{`region: "Seoul" is not a GCP region name (such as asia-northeast3 or us-central1)`}},
		{"bad release channel", func(a *ClusterArgs) { a.ReleaseChannel = "regular" },
			[]string{`releaseChannel: "regular" is not one of RAPID, REGULAR, STABLE`}},
		{"bad machine type", func(a *ClusterArgs) { a.MachineType = "E2 standard" },
			[]string{`machineType: "E2 standard" is not a Compute Engine machine type (such as e2-standard-2)`}},
		{"small disk", func(a *ClusterArgs) { a.DiskSizeGB = 5 },
			[]string{"diskSizeGB: 5 is below GKE's minimum boot disk of 10 GB"}},
		{"not a cidr", func(a *ClusterArgs) { a.SubnetCidr = "10.10.0.0" },
			[]string{`subnetCidr: "10.10.0.0" is not a CIDR (want an address/prefix such as 10.10.0.0/20)`}},
		{"host bits", func(a *ClusterArgs) { a.PodsCidr = "10.20.1.0/14" },
			[]string{`podsCidr: "10.20.1.0/14" has host bits set; did you mean 10.20.0.0/14?`}},
		{"public range", func(a *ClusterArgs) { a.ServicesCidr = "8.8.0.0/20" },
			[]string{`servicesCidr: "8.8.0.0/20" is not a private range (want inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10)`}},
		{"ipv6 range", func(a *ClusterArgs) { a.ServicesCidr = "fd00::/64" },
			[]string{`servicesCidr: "fd00::/64" is not IPv4; GKE's VPC-native ranges are IPv4`}},
		{"master not /28", func(a *ClusterArgs) { a.MasterCidr = "172.16.0.0/24" },
			[]string{`masterCidr: "172.16.0.0/24" must be a /28 (GKE's control plane range is exactly 16 addresses)`}},
		{"subnet too small", func(a *ClusterArgs) { a.SubnetCidr = "10.10.0.0/30" },
			[]string{`subnetCidr: "10.10.0.0/30" is too small; want /29 or larger`}},
		{"overlapping ranges", func(a *ClusterArgs) { a.PodsCidr, a.MasterCidr = "10.8.0.0/13", "10.10.0.0/28" },
			[]string{
				`podsCidr: "10.8.0.0/13" overlaps subnetCidr "10.10.0.0/20"; the ranges must be disjoint`,
				`masterCidr: "10.10.0.0/28" overlaps subnetCidr "10.10.0.0/20"; the ranges must be disjoint`,
				`masterCidr: "10.10.0.0/28" overlaps podsCidr "10.8.0.0/13"; the ranges must be disjoint`,
			}},
		{"world admin cidr", func(a *ClusterArgs) { a.AdminCidrs = []string{"198.51.100.0/24", "0.0.0.0/0"} },
			[]string{`adminCidrs[1]: "0.0.0.0/0" opens the Kubernetes API to the whole internet; list the networks of your admins`}},
		{"no admin cidrs", func(a *ClusterArgs) { a.AdminCidrs = nil },
			[]string{"adminCidrs: required: at least one IPv4 CIDR that may reach the Kubernetes API"}},
		{"bad admin cidrs", func(a *ClusterArgs) { a.AdminCidrs = []string{"198.51.100.7/24", "office", "2001:db8::/32"} },
			[]string{
				`adminCidrs[0]: "198.51.100.7/24" has host bits set; did you mean 198.51.100.0/24?`,
				`adminCidrs[1]: "office" is not a CIDR (want an address/prefix such as 10.10.0.0/20)`,
				`adminCidrs[2]: "2001:db8::/32" is not IPv4; GKE master authorized networks take IPv4 CIDRs only`,
			}},
		{"bad label key", func(a *ClusterArgs) { a.Labels["Owner"] = "x" },
			[]string{`labels: key "Owner" is not a GCP label key (a lowercase letter, then up to 62 of a-z 0-9 _ -)`}},
		{"everything at once", func(a *ClusterArgs) { a.Project, a.CNI, a.MinNodes, a.MaxNodes = "", "cilium", 5, 2 },
			[]string{"project: required: the GCP project ID to create the cluster in", `cni: "cilium" is not one of dataplane-v2, calico`, "minNodes: 5 > maxNodes 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := validArgs()
			tc.change(&a)
			assert.Equal(t, tc.want, a.Validate())
		})
	}
}

func TestLabelValue(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"dev":                       "dev",
		"DevOps Class":              "devops-class",
		"2026-12-01T18:00:00+09:00": "2026-12-01t18-00-00-09-00",
		"2026-12-01T09:00:00Z":      "2026-12-01t09-00-00z",
		"alice@example.com":         "alice-example-com",
		"_team_":                    "team",
		"":                          "",
		"a234567890123456789012345678901234567890123456789012345678901234567890": "a23456789012345678901234567890123456789012345678901234567890123",
	} {
		got := LabelValue(raw)
		assert.Equal(t, want, got, "LabelValue(%q)", raw)
		assert.Regexp(t, `^([a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?)?$`, got, "valid as GCP and Kubernetes label value")
	}
}

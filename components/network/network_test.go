package network

import (
	"fmt"
	"github.com/deploylab/deploylab/internal/testutil"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const azToken = "aws:index/getAvailabilityZones:getAvailabilityZones"

// mocks answers the AZ lookup with zones and records every resource and call so the tests can read their inputs.
type mocks struct {
	zones []string

	mu    sync.Mutex
	res   map[string]pulumi.MockResourceArgs // by logical name
	calls []pulumi.MockCallArgs
}

func newMocks(zones ...string) *mocks {
	return &mocks{zones: zones, res: map[string]pulumi.MockResourceArgs{}}
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.res[args.Name] = args
	return args.Name + "-id", args.Inputs, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, args)
	switch args.Token {
	case azToken:
		return resource.NewPropertyMapFromMap(map[string]any{"id": "eu-central-1", "names": m.zones}), nil
	default:
		return nil, fmt.Errorf("mock: unexpected call %s", args.Token)
	}
}

// byType returns the recorded resources of one type token, sorted by name.
func (m *mocks) byType(token string) []pulumi.MockResourceArgs {
	var out []pulumi.MockResourceArgs
	for _, r := range m.res {
		if r.TypeToken == token {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func str(m resource.PropertyMap, key string) string {
	v := testutil.Unwrap(m[resource.PropertyKey(key)])
	if !v.IsString() {
		return ""
	}
	return v.StringValue()
}

func boolean(m resource.PropertyMap, key string) bool {
	v := testutil.Unwrap(m[resource.PropertyKey(key)])
	return v.IsBool() && v.BoolValue()
}

type result struct {
	vpcID     pulumi.ID
	subnetIDs []pulumi.ID
}

// run builds the component under the mocks and returns its resolved outputs.
func run(t *testing.T, m *mocks, args *NetworkArgs) (result, error) {
	t.Helper()
	var got result
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		n, err := NewNetwork(ctx, "net", args)
		if err != nil {
			return err
		}
		// RunErr returns only after every apply has run, so these writes are visible once it returns.
		n.VpcID.ApplyT(func(id pulumi.ID) error { got.vpcID = id; return nil })
		n.PublicSubnetIDs.ApplyT(func(ids []pulumi.ID) error { got.subnetIDs = ids; return nil })
		return nil
	}, pulumi.WithMocks("deploylab", "test", m))
	return got, err
}

func TestNetwork(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		args        NetworkArgs
		zones       []string
		wantCidr    string
		wantSubnets []string
		wantZones   []string
	}{
		{
			name:        "defaults",
			zones:       []string{"eu-central-1a", "eu-central-1b", "eu-central-1c"},
			wantCidr:    "10.0.0.0/16",
			wantSubnets: []string{"10.0.0.0/20", "10.0.16.0/20"},
			wantZones:   []string{"eu-central-1a", "eu-central-1b"},
		},
		{
			name:        "custom /24, zones answered out of order and repeated",
			args:        NetworkArgs{CidrBlock: "172.16.8.0/24", Tags: map[string]string{"team": "web"}},
			zones:       []string{"us-east-1f", "us-east-1c", "us-east-1c", "us-east-1d"},
			wantCidr:    "172.16.8.0/24",
			wantSubnets: []string{"172.16.8.0/28", "172.16.8.16/28"},
			wantZones:   []string{"us-east-1c", "us-east-1d"},
		},
		{
			name:        "smallest VPC /27 halves",
			args:        NetworkArgs{CidrBlock: "192.168.0.32/27"},
			zones:       []string{"ap-northeast-2a", "ap-northeast-2c"},
			wantCidr:    "192.168.0.32/27",
			wantSubnets: []string{"192.168.0.32/28", "192.168.0.48/28"},
			wantZones:   []string{"ap-northeast-2a", "ap-northeast-2c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newMocks(tt.zones...)
			out, err := run(t, m, &tt.args)
			require.NoError(t, err)

			// The AZ lookup asks for available zones that need no opt-in (no Local/Wavelength Zones).
			require.Len(t, m.calls, 1)
			assert.Equal(t, "available", str(m.calls[0].Args, "state"))
			filters := m.calls[0].Args["filters"].ArrayValue()
			require.Len(t, filters, 1)
			assert.Equal(t, "opt-in-status", str(filters[0].ObjectValue(), "name"))
			assert.Equal(t, "opt-in-not-required", filters[0].ObjectValue()["values"].ArrayValue()[0].StringValue())

			vpcs := m.byType("aws:ec2/vpc:Vpc")
			require.Len(t, vpcs, 1)
			vpc := vpcs[0].Inputs
			assert.Equal(t, tt.wantCidr, str(vpc, "cidrBlock"))
			assert.True(t, boolean(vpc, "enableDnsSupport"), "enableDnsSupport")
			assert.True(t, boolean(vpc, "enableDnsHostnames"), "enableDnsHostnames")
			vpcID := vpcs[0].Name + "-id"

			subnets := m.byType("aws:ec2/subnet:Subnet")
			require.Len(t, subnets, 2)
			var zones, cidrs, subnetIDs []string
			for _, s := range subnets {
				zones = append(zones, str(s.Inputs, "availabilityZone"))
				cidrs = append(cidrs, str(s.Inputs, "cidrBlock"))
				subnetIDs = append(subnetIDs, s.Name+"-id")
				assert.Equal(t, vpcID, str(s.Inputs, "vpcId"), s.Name)
				assert.True(t, boolean(s.Inputs, "mapPublicIpOnLaunch"), "%s mapPublicIpOnLaunch", s.Name)
				assert.Equal(t, s.Name, str(testutil.Unwrap(s.Inputs["tags"]).ObjectValue(), "Name"))
				for k, v := range tt.args.Tags {
					assert.Equal(t, v, str(testutil.Unwrap(s.Inputs["tags"]).ObjectValue(), k), "%s tag %s", s.Name, k)
				}
			}
			assert.Equal(t, tt.wantZones, zones)
			assert.NotEqual(t, zones[0], zones[1], "subnets must be in two distinct AZs")
			assert.Equal(t, tt.wantSubnets, cidrs)
			vpcPrefix := netip.MustParsePrefix(tt.wantCidr)
			for _, c := range cidrs {
				p := netip.MustParsePrefix(c)
				assert.True(t, vpcPrefix.Contains(p.Addr()) && p.Bits() >= vpcPrefix.Bits(), "%s inside %s", c, tt.wantCidr)
			}
			assert.False(t, netip.MustParsePrefix(cidrs[0]).Overlaps(netip.MustParsePrefix(cidrs[1])), "subnets overlap")

			igws := m.byType("aws:ec2/internetGateway:InternetGateway")
			require.Len(t, igws, 1)
			assert.Equal(t, vpcID, str(igws[0].Inputs, "vpcId"))

			rts := m.byType("aws:ec2/routeTable:RouteTable")
			require.Len(t, rts, 1)
			assert.Equal(t, vpcID, str(rts[0].Inputs, "vpcId"))
			routes := testutil.Unwrap(rts[0].Inputs["routes"]).ArrayValue()
			require.Len(t, routes, 1, "one route: the default route to the IGW")
			route := testutil.Unwrap(routes[0]).ObjectValue()
			assert.Equal(t, "0.0.0.0/0", str(route, "cidrBlock"))
			assert.Equal(t, igws[0].Name+"-id", str(route, "gatewayId"))

			var associated []string
			for _, a := range m.byType("aws:ec2/routeTableAssociation:RouteTableAssociation") {
				assert.Equal(t, rts[0].Name+"-id", str(a.Inputs, "routeTableId"))
				associated = append(associated, str(a.Inputs, "subnetId"))
			}
			assert.Equal(t, subnetIDs, associated, "every public subnet is associated with the public route table")

			for _, r := range m.res {
				if r.Custom {
					assert.True(t, strings.HasSuffix(r.RegisterRPC.GetParent(), "deploylab:components:Network::net"), "%s parent", r.Name)
					assert.True(t, strings.HasPrefix(r.Name, "net-"), "%s is named after the component", r.Name)
				}
			}

			assert.Equal(t, pulumi.ID(vpcID), out.vpcID)
			assert.Equal(t, []pulumi.ID{pulumi.ID(subnetIDs[0]), pulumi.ID(subnetIDs[1])}, out.subnetIDs)
		})
	}
}

func TestNetworkErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  *NetworkArgs
		zones []string
		want  []string
	}{
		{name: "nil args", args: nil, want: []string{`network "net": args are required`}},
		{name: "not a CIDR", args: &NetworkArgs{CidrBlock: "10.0.0.300/16"}, want: []string{`CidrBlock: "10.0.0.300/16" is not an IPv4 CIDR`}},
		{name: "IPv6", args: &NetworkArgs{CidrBlock: "fd00::/48"}, want: []string{`CidrBlock: "fd00::/48" is not an IPv4 CIDR`}},
		{name: "host bits", args: &NetworkArgs{CidrBlock: "10.0.1.0/16"}, want: []string{`CidrBlock: "10.0.1.0/16" has host bits set (want the network address 10.0.0.0/16)`}},
		{name: "too big", args: &NetworkArgs{CidrBlock: "10.0.0.0/8"}, want: []string{`CidrBlock: "10.0.0.0/8" has prefix /8 (want /16 to /27`}},
		{name: "too small", args: &NetworkArgs{CidrBlock: "10.0.0.0/28"}, want: []string{`has prefix /28`}},
		{
			name: "all problems at once",
			args: &NetworkArgs{CidrBlock: "nope", Tags: map[string]string{"Name": "x", "": "y"}},
			want: []string{`CidrBlock: "nope"`, `Tags[Name]: "x" would be overwritten`, `Tags: empty key (value "y")`},
		},
		{
			name:  "one AZ",
			args:  &NetworkArgs{},
			zones: []string{"il-central-1a"},
			want:  []string{`region has 1 available (["il-central-1a"]), need at least 2`},
		},
		{name: "no AZ", args: &NetworkArgs{}, want: []string{`region has 0 available`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newMocks(tt.zones...)
			_, err := run(t, m, tt.args)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Empty(t, m.byType("aws:ec2/vpc:Vpc"), "nothing is created from bad input")
		})
	}
}

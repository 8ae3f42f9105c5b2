// Package network builds the VPC every AWS part of deploylab lives in: two public subnets in two availability zones
// (an Application Load Balancer refuses fewer than two), an internet gateway and the route table that sends
// 0.0.0.0/0 to it.
package network

import (
	"errors"
	"fmt"
	"github.com/deploylab/deploylab/components/internal/awstags"
	"net/netip"
	"sort"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// DefaultCidrBlock is the VPC range used when NetworkArgs.CidrBlock is empty.
const DefaultCidrBlock = "10.0.0.0/16"

// subnetCount is fixed at two: the ALB needs two AZs, and nothing in deploylab needs more.
const subnetCount = 2

// NetworkArgs configures NewNetwork.
type NetworkArgs struct {
	// CidrBlock is the VPC's IPv4 range, a network address with a prefix from /16 to /27. Optional, default
	// 10.0.0.0/16. Each subnet takes 1/16 of it (a /20 of a /16), or half of it when the VPC is smaller than /24.
	CidrBlock string
	// Tags are added to every resource next to the Name tag. Optional, default none. The env/owner/expires-at/
	// managed-by tags come from the AWS provider's default tags, not from here.
	Tags map[string]string
}

// Network is the component NewNetwork returns.
type Network struct {
	pulumi.ResourceState

	// VpcID is the VPC's ID.
	VpcID pulumi.IDOutput
	// PublicSubnetIDs are the two public subnets, in two different AZs, in AZ-name order.
	PublicSubnetIDs pulumi.IDArrayOutput
	// PublicSubnetCidrs are the subnets' ranges, in the same order. They are plain values, known before
	// anything is created, so a host can be given a fixed private address that another host's configuration
	// names.
	PublicSubnetCidrs []netip.Prefix
}

// NewNetwork creates the VPC, its two public subnets, the internet gateway and the public route table.
func NewNetwork(ctx *pulumi.Context, name string, args *NetworkArgs, opts ...pulumi.ResourceOption) (*Network, error) {
	if args == nil {
		return nil, fmt.Errorf("network %q: args are required (got nil)", name)
	}
	a := withDefaults(*args)
	subnets, err := validate(a)
	if err != nil {
		return nil, fmt.Errorf("network %q: %w", name, err)
	}

	n := &Network{PublicSubnetCidrs: subnets}
	if err := ctx.RegisterComponentResource("deploylab:components:Network", name, n, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(n)

	zones, err := pickZones(ctx, parent)
	if err != nil {
		return nil, fmt.Errorf("network %q: %w", name, err)
	}

	vpc, err := ec2.NewVpc(ctx, name+"-vpc", &ec2.VpcArgs{
		CidrBlock: pulumi.String(a.CidrBlock),
		// Both on: instances get public DNS names (the app host's output) and the VPC resolver answers, which
		// SSM Session Manager and certbot need.
		EnableDnsSupport:   pulumi.Bool(true),
		EnableDnsHostnames: pulumi.Bool(true),
		Tags:               awstags.Named(a.Tags, name+"-vpc"),
	}, parent)
	if err != nil {
		return nil, err
	}

	igw, err := ec2.NewInternetGateway(ctx, name+"-igw", &ec2.InternetGatewayArgs{
		VpcId: vpc.ID(),
		Tags:  awstags.Named(a.Tags, name+"-igw"),
	}, parent)
	if err != nil {
		return nil, err
	}

	// Routes inline, so the table is authoritative: a route added by hand is removed on the next `pulumi up`.
	rt, err := ec2.NewRouteTable(ctx, name+"-public-rt", &ec2.RouteTableArgs{
		VpcId: vpc.ID(),
		Routes: ec2.RouteTableRouteArray{
			ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), GatewayId: igw.ID()},
		},
		Tags: awstags.Named(a.Tags, name+"-public-rt"),
	}, parent)
	if err != nil {
		return nil, err
	}

	subnetIDs := make(pulumi.IDArray, 0, subnetCount)
	for i, zone := range zones {
		sn := fmt.Sprintf("%s-public-%d", name, i)
		subnet, err := ec2.NewSubnet(ctx, sn, &ec2.SubnetArgs{
			VpcId:            vpc.ID(),
			CidrBlock:        pulumi.String(subnets[i].String()),
			AvailabilityZone: pulumi.String(zone),
			// The app host sits in a public subnet without a NAT gateway (a NAT costs more than the host): it needs a
			// public IP to answer on 80/443, to pull images and packages, and for certbot's HTTP-01 challenge. The
			// security groups, not the subnet, decide what reaches it.
			MapPublicIpOnLaunch: pulumi.Bool(true),
			Tags:                awstags.Named(a.Tags, sn),
		}, parent)
		if err != nil {
			return nil, err
		}
		if _, err := ec2.NewRouteTableAssociation(ctx, sn+"-rta", &ec2.RouteTableAssociationArgs{
			RouteTableId: rt.ID(),
			SubnetId:     subnet.ID(),
		}, parent); err != nil {
			return nil, err
		}
		subnetIDs = append(subnetIDs, subnet.ID())
	}

	n.VpcID = vpc.ID()
	n.PublicSubnetIDs = subnetIDs.ToIDArrayOutput()
	if err := ctx.RegisterResourceOutputs(n, pulumi.Map{
		"vpcId":           n.VpcID,
		"publicSubnetIds": n.PublicSubnetIDs,
	}); err != nil {
		return nil, err
	}
	return n, nil
}

// withDefaults fills every optional field left empty.
func withDefaults(a NetworkArgs) NetworkArgs {
	if a.CidrBlock == "" {
		a.CidrBlock = DefaultCidrBlock
	}
	return a
}

// validate checks the defaulted args, gathering every problem, and returns the two subnet ranges.
func validate(a NetworkArgs) ([]netip.Prefix, error) {
	var errs []error
	p, err := netip.ParsePrefix(a.CidrBlock)
	switch {
	case err != nil || !p.Addr().Is4():
		errs = append(errs, fmt.Errorf("CidrBlock: %q is not an IPv4 CIDR (want e.g. %s)", a.CidrBlock, DefaultCidrBlock))
	case p.Masked() != p:
		errs = append(errs, fmt.Errorf("CidrBlock: %q has host bits set (want the network address %s)", a.CidrBlock, p.Masked()))
	case p.Bits() < 16 || p.Bits() > 27:
		// AWS accepts /16 to /28 for a VPC; /28 is the smallest subnet, so two of them need at least a /27.
		errs = append(errs, fmt.Errorf("CidrBlock: %q has prefix /%d (want /16 to /27: AWS allows /16 at most and two /28 subnets need a /27)", a.CidrBlock, p.Bits()))
	}
	for k, v := range a.Tags {
		switch k {
		case "":
			errs = append(errs, fmt.Errorf("Tags: empty key (value %q)", v))
		case "Name":
			errs = append(errs, fmt.Errorf("Tags[Name]: %q would be overwritten: each resource gets Name=<component name>-<suffix>; remove it", v))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return splitSubnets(p), nil
}

// splitSubnets returns the first two subnets of vpc: /prefix+4 when that is /28 or larger, else the two halves.
func splitSubnets(vpc netip.Prefix) []netip.Prefix {
	bits := vpc.Bits() + 4
	if bits > 28 {
		bits = vpc.Bits() + 1
	}
	size := uint32(1) << (32 - bits)
	base := vpc.Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	out := make([]netip.Prefix, subnetCount)
	for i := range out {
		v := start + uint32(i)*size
		out[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), bits)
	}
	return out
}

// pickZones asks the provider (through the component's provider, via opt) for the region's available AZs and
// returns the first two by name. Local and Wavelength Zones are opt-in and have no ALB, so only zones that need no opt-in
// are considered.
func pickZones(ctx *pulumi.Context, opt pulumi.InvokeOption) ([]string, error) {
	res, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{
		State: pulumi.StringRef("available"),
		Filters: []aws.GetAvailabilityZonesFilter{
			{Name: "opt-in-status", Values: []string{"opt-in-not-required"}},
		},
	}, opt)
	if err != nil {
		return nil, fmt.Errorf("looking up availability zones: %w", err)
	}
	seen := map[string]bool{}
	var zones []string
	for _, z := range res.Names {
		if z != "" && !seen[z] {
			seen[z] = true
			zones = append(zones, z)
		}
	}
	sort.Strings(zones) // the same two zones on every run, whatever order the API answers in
	if len(zones) < subnetCount {
		return nil, fmt.Errorf("availability zones: the region has %d available (%q), need at least %d for the ALB's two subnets; pick another aws:region",
			len(zones), zones, subnetCount)
	}
	return zones[:subnetCount], nil
}

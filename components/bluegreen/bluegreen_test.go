package bluegreen

import (
	"fmt"
	"github.com/deploylab/deploylab/internal/awslimits"
	"github.com/deploylab/deploylab/internal/testutil"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	vpcCidr  = "10.20.0.0/16"
	instance = "i-0123456789abcdef0"
	certArn  = "arn:aws:acm:eu-central-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
)

// mocks answers the VPC lookup, gives load balancers, target groups and listeners the ARNs/DNS names AWS would
// compute, and records every resource so the tests can read its inputs and options.
type mocks struct {
	mu  sync.Mutex
	res map[string]pulumi.MockResourceArgs // by logical name
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.res[args.Name] = args
	state := args.Inputs.Copy()
	switch args.TypeToken {
	case "aws:lb/loadBalancer:LoadBalancer":
		state["arn"] = resource.NewProperty("arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/app/" + args.Name)
		state["dnsName"] = resource.NewProperty(args.Name + ".eu-central-1.elb.amazonaws.com")
	case "aws:lb/targetGroup:TargetGroup":
		state["arn"] = resource.NewProperty("arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/" + args.Name)
	case "aws:lb/listener:Listener":
		state["arn"] = resource.NewProperty("arn:aws:elasticloadbalancing:eu-central-1:123456789012:listener/app/" + args.Name)
	}
	return args.Name + "-id", state, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	switch args.Token {
	case "aws:ec2/getVpc:getVpc":
		if got := testutil.Unwrap(args.Args["id"]); !got.IsString() || got.StringValue() != "vpc-123" {
			return nil, fmt.Errorf("mock: getVpc for %v, want vpc-123", got)
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": "vpc-123", "cidrBlock": vpcCidr}), nil
	default:
		return nil, fmt.Errorf("mock: unexpected call %s", args.Token)
	}
}

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

func (m *mocks) get(t *testing.T, name string) pulumi.MockResourceArgs {
	t.Helper()
	r, ok := m.res[name]
	require.True(t, ok, "resource %s not registered", name)
	return r
}

// at follows keys (string for objects, int for arrays) and returns the plain value, or null when missing.
func at(m resource.PropertyMap, path ...any) resource.PropertyValue {
	v := resource.NewObjectProperty(m)
	for _, p := range path {
		v = testutil.Unwrap(v)
		switch k := p.(type) {
		case string:
			if !v.IsObject() {
				return resource.NewNullProperty()
			}
			v = v.ObjectValue()[resource.PropertyKey(k)]
		case int:
			if !v.IsArray() || k >= len(v.ArrayValue()) {
				return resource.NewNullProperty()
			}
			v = v.ArrayValue()[k]
		}
	}
	return testutil.Unwrap(v)
}

func str(m resource.PropertyMap, path ...any) string {
	if v := at(m, path...); v.IsString() {
		return v.StringValue()
	}
	return ""
}

func num(m resource.PropertyMap, path ...any) int {
	if v := at(m, path...); v.IsNumber() {
		return int(v.NumberValue())
	}
	return -1
}

func strs(m resource.PropertyMap, path ...any) []string {
	out := []string{}
	for _, v := range at(m, path...).ArrayValue() {
		out = append(out, testutil.Unwrap(v).StringValue())
	}
	return out
}

type outputs struct {
	dnsName, listenerArn string
	sgID                 pulumi.ID
	tgArns               map[string]string
}

func run(t *testing.T, m *mocks, args *BlueGreenArgs) (outputs, error) {
	t.Helper()
	got := outputs{tgArns: map[string]string{}}
	var mu sync.Mutex
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		bg, err := NewBlueGreen(ctx, "web", args)
		if err != nil {
			return err
		}
		if err := bg.Attach(ctx, pulumi.String(instance)); err != nil {
			return err
		}
		// RunErr returns only after every apply has run, so these writes are visible once it returns.
		bg.DNSName.ApplyT(func(s string) error { got.dnsName = s; return nil })
		bg.ListenerArn.ApplyT(func(s string) error { got.listenerArn = s; return nil })
		bg.SecurityGroupID.ApplyT(func(id pulumi.ID) error { got.sgID = id; return nil })
		for color, arn := range bg.TargetGroupArns {
			arn.ApplyT(func(s string) error { mu.Lock(); got.tgArns[color] = s; mu.Unlock(); return nil })
		}
		return nil
	}, pulumi.WithMocks("deploylab", "test", m))
	return got, err
}

// validArgs are the required inputs; each test case sets the optional ones.
func validArgs() BlueGreenArgs {
	return BlueGreenArgs{
		VpcID:     pulumi.String("vpc-123"),
		SubnetIDs: pulumi.StringArray{pulumi.String("subnet-a"), pulumi.String("subnet-b")},
	}
}

func TestBlueGreen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		edit        func(*BlueGreenArgs)
		wantPorts   map[string]int
		wantHealth  string
		wantWeights map[string]int
		wantProtect bool
		wantLogs    string
		wantTLS     bool
	}{
		{
			name:        "defaults: HTTP forward to blue",
			edit:        func(*BlueGreenArgs) {},
			wantPorts:   map[string]int{Blue: 8081, Green: 8082},
			wantHealth:  "/actuator/health",
			wantWeights: map[string]int{Blue: 100, Green: 0},
		},
		{
			name: "prod: green active, own ports and path, deletion protection, access logs",
			edit: func(a *BlueGreenArgs) {
				a.ActiveColor, a.BluePort, a.GreenPort, a.HealthPath = Green, 9001, 9002, "/healthz"
				a.DeletionProtection, a.AccessLogsBucket = true, "deploylab-alb-logs"
				a.Tags = map[string]string{"cost-center": "web"}
			},
			wantPorts:   map[string]int{Blue: 9001, Green: 9002},
			wantHealth:  "/healthz",
			wantWeights: map[string]int{Blue: 0, Green: 100},
			wantProtect: true,
			wantLogs:    "deploylab-alb-logs",
		},
		{
			name:        "certificate: HTTPS forward with TLS 1.3 policy, HTTP redirects",
			edit:        func(a *BlueGreenArgs) { a.CertificateArn = certArn },
			wantPorts:   map[string]int{Blue: 8081, Green: 8082},
			wantHealth:  "/actuator/health",
			wantWeights: map[string]int{Blue: 100, Green: 0},
			wantTLS:     true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := validArgs()
			tt.edit(&args)
			m := &mocks{res: map[string]pulumi.MockResourceArgs{}}
			out, err := run(t, m, &args)
			require.NoError(t, err)

			// Security group: 80 and 443 from the world, nothing else in; out only to the VPC on the colour ports.
			sg := m.get(t, "web-alb-sg").Inputs
			assert.Equal(t, "vpc-123", str(sg, "vpcId"))
			ingress := at(sg, "ingress").ArrayValue()
			require.Len(t, ingress, 2)
			for i, port := range []int{80, 443} {
				rule := testutil.Unwrap(ingress[i]).ObjectValue()
				assert.Equal(t, "tcp", str(rule, "protocol"))
				assert.Equal(t, port, num(rule, "fromPort"))
				assert.Equal(t, port, num(rule, "toPort"))
				assert.Equal(t, []string{"0.0.0.0/0"}, strs(rule, "cidrBlocks"))
				assert.Equal(t, []string{"::/0"}, strs(rule, "ipv6CidrBlocks"))
				assert.True(t, at(rule, "securityGroups").IsNull() && at(rule, "prefixListIds").IsNull(), "no other sources")
			}
			egress := at(sg, "egress").ArrayValue()
			require.Len(t, egress, 2)
			for i, color := range Colors {
				rule := testutil.Unwrap(egress[i]).ObjectValue()
				assert.Equal(t, "tcp", str(rule, "protocol"))
				assert.Equal(t, tt.wantPorts[color], num(rule, "fromPort"))
				assert.Equal(t, tt.wantPorts[color], num(rule, "toPort"))
				assert.Equal(t, []string{vpcCidr}, strs(rule, "cidrBlocks"), "egress only to the VPC")
				assert.True(t, at(rule, "ipv6CidrBlocks").IsNull())
			}

			assert.Equal(t, tt.wantProtect, m.get(t, "web-alb").RegisterRPC.GetProtect(), "protect follows DeletionProtection")
			alb := m.get(t, "web-alb").Inputs
			assert.Equal(t, "application", str(alb, "loadBalancerType"))
			assert.False(t, at(alb, "internal").BoolValue(), "internet-facing")
			assert.True(t, at(alb, "dropInvalidHeaderFields").BoolValue(), "dropInvalidHeaderFields")
			assert.Equal(t, "strictest", str(alb, "desyncMitigationMode"))
			assert.Equal(t, tt.wantProtect, at(alb, "enableDeletionProtection").BoolValue(), "enableDeletionProtection")
			assert.Equal(t, []string{"subnet-a", "subnet-b"}, strs(alb, "subnets"))
			assert.Equal(t, []string{"web-alb-sg-id"}, strs(alb, "securityGroups"))
			if tt.wantLogs == "" {
				assert.True(t, at(alb, "accessLogs").IsNull(), "no access logs without a bucket")
			} else {
				assert.Equal(t, tt.wantLogs, str(alb, "accessLogs", "bucket"))
				assert.True(t, at(alb, "accessLogs", "enabled").BoolValue())
				assert.Equal(t, "web", str(alb, "accessLogs", "prefix"))
			}
			for k, v := range args.Tags {
				assert.Equal(t, v, str(alb, "tags", k))
			}

			tgArn := map[string]string{}
			for _, color := range Colors {
				tg := m.get(t, "web-"+color)
				in := tg.Inputs
				tgArn[color] = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/web-" + color
				assert.Equal(t, "HTTP", str(in, "protocol"), color)
				assert.Equal(t, "instance", str(in, "targetType"), color)
				assert.Equal(t, tt.wantPorts[color], num(in, "port"), color)
				assert.Equal(t, "vpc-123", str(in, "vpcId"), color)
				assert.Equal(t, 30, num(in, "deregistrationDelay"), color)
				assert.True(t, at(in, "healthCheck", "enabled").BoolValue(), color)
				assert.Equal(t, tt.wantHealth, str(in, "healthCheck", "path"), color)
				assert.Equal(t, "200", str(in, "healthCheck", "matcher"), color)
				assert.Equal(t, "traffic-port", str(in, "healthCheck", "port"), color)
				assert.Equal(t, 10, num(in, "healthCheck", "interval"), color)
				assert.Less(t, num(in, "healthCheck", "timeout"), num(in, "healthCheck", "interval"), color)
				assert.Equal(t, 2, num(in, "healthCheck", "healthyThreshold"), color)
				assert.Equal(t, 2, num(in, "healthCheck", "unhealthyThreshold"), color)

				att := m.get(t, "web-"+color+"-host").Inputs
				assert.Equal(t, tgArn[color], str(att, "targetGroupArn"), color)
				assert.Equal(t, instance, str(att, "targetId"), color)
				assert.Equal(t, tt.wantPorts[color], num(att, "port"), color)
			}
			assert.Len(t, m.byType("aws:lb/targetGroup:TargetGroup"), 2)
			assert.Len(t, m.byType("aws:lb/targetGroupAttachment:TargetGroupAttachment"), 2)

			forwarding := "web-http"
			if tt.wantTLS {
				forwarding = "web-https"
			}
			fl := m.get(t, forwarding)
			in := fl.Inputs
			assert.Equal(t, "arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/app/web-alb", str(in, "loadBalancerArn"))
			require.Len(t, at(in, "defaultActions").ArrayValue(), 1)
			assert.Equal(t, "forward", str(in, "defaultActions", 0, "type"))
			assert.True(t, at(in, "defaultActions", 0, "targetGroupArn").IsNull(), "targetGroupArn conflicts with a weighted forward")
			groups := at(in, "defaultActions", 0, "forward", "targetGroups").ArrayValue()
			require.Len(t, groups, 2)
			weights := map[string]int{}
			for _, g := range groups {
				gm := testutil.Unwrap(g).ObjectValue()
				color := strings.TrimPrefix(str(gm, "arn"), "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/web-")
				weights[color] = num(gm, "weight")
			}
			assert.Equal(t, tt.wantWeights, weights)
			// The option deploy.sh's ownership of the weights rests on, as the engine receives it.
			assert.Equal(t, []string{"defaultActions"}, fl.RegisterRPC.GetIgnoreChanges())

			listeners := m.byType("aws:lb/listener:Listener")
			if tt.wantTLS {
				require.Len(t, listeners, 2)
				assert.Equal(t, 443, num(in, "port"))
				assert.Equal(t, "HTTPS", str(in, "protocol"))
				assert.Equal(t, "ELBSecurityPolicy-TLS13-1-2-2021-06", str(in, "sslPolicy"))
				assert.Equal(t, certArn, str(in, "certificateArn"))

				redirect := m.get(t, "web-http")
				r := redirect.Inputs
				assert.Equal(t, 80, num(r, "port"))
				assert.Equal(t, "HTTP", str(r, "protocol"))
				require.Len(t, at(r, "defaultActions").ArrayValue(), 1)
				assert.Equal(t, "redirect", str(r, "defaultActions", 0, "type"))
				assert.Equal(t, "HTTPS", str(r, "defaultActions", 0, "redirect", "protocol"))
				assert.Equal(t, "443", str(r, "defaultActions", 0, "redirect", "port"))
				assert.Equal(t, "HTTP_301", str(r, "defaultActions", 0, "redirect", "statusCode"))
				assert.Empty(t, redirect.RegisterRPC.GetIgnoreChanges(), "Pulumi owns the redirect")
			} else {
				require.Len(t, listeners, 1)
				assert.Equal(t, 80, num(in, "port"))
				assert.Equal(t, "HTTP", str(in, "protocol"))
				assert.True(t, at(in, "sslPolicy").IsNull() && at(in, "certificateArn").IsNull())
			}

			for _, r := range m.res {
				if r.Custom {
					assert.True(t, strings.HasSuffix(r.RegisterRPC.GetParent(), "deploylab:components:BlueGreen::web"), "%s parent", r.Name)
					assert.True(t, strings.HasPrefix(r.Name, "web-"), "%s is named after the component", r.Name)
				}
			}

			assert.Equal(t, "web-alb.eu-central-1.elb.amazonaws.com", out.dnsName)
			assert.Equal(t, "arn:aws:elasticloadbalancing:eu-central-1:123456789012:listener/app/"+forwarding, out.listenerArn)
			assert.Equal(t, pulumi.ID("web-alb-sg-id"), out.sgID)
			assert.Equal(t, tgArn, out.tgArns, "target group ARNs keyed blue/green")
		})
	}
}

func TestBlueGreenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args func() *BlueGreenArgs
		want []string
	}{
		{name: "nil args", args: func() *BlueGreenArgs { return nil }, want: []string{`bluegreen "web": args are required`}},
		{
			name: "required inputs missing, all named",
			args: func() *BlueGreenArgs { return &BlueGreenArgs{} },
			want: []string{"VpcID: required", "SubnetIDs: required"},
		},
		{
			name: "unknown colour",
			args: func() *BlueGreenArgs { a := validArgs(); a.ActiveColor = "purple"; return &a },
			want: []string{`ActiveColor: "purple" is not a colour (want blue or green)`},
		},
		{
			name: "equal ports",
			args: func() *BlueGreenArgs { a := validArgs(); a.BluePort, a.GreenPort = 8080, 8080; return &a },
			want: []string{"GreenPort: 8080 equals BluePort"},
		},
		{
			name: "default green port taken by blue",
			args: func() *BlueGreenArgs { a := validArgs(); a.BluePort = 8082; return &a },
			want: []string{"GreenPort: 8082 equals BluePort"},
		},
		{
			name: "ports out of range",
			args: func() *BlueGreenArgs { a := validArgs(); a.BluePort, a.GreenPort = -1, 70000; return &a },
			want: []string{"BluePort: -1 is not a port (want 1-65535)", "GreenPort: 70000 is not a port"},
		},
		{
			name: "health path",
			args: func() *BlueGreenArgs { a := validArgs(); a.HealthPath = "actuator/health"; return &a },
			want: []string{`HealthPath: "actuator/health" does not start with /`},
		},
		{
			name: "certificate not an ARN",
			args: func() *BlueGreenArgs { a := validArgs(); a.CertificateArn = "example.com"; return &a },
			want: []string{`CertificateArn: "example.com" is not a certificate ARN`},
		},
		{
			name: "bucket given as URL",
			args: func() *BlueGreenArgs { a := validArgs(); a.AccessLogsBucket = "s3://logs"; return &a },
			want: []string{`AccessLogsBucket: "s3://logs" is not an S3 bucket name`},
		},
		{
			name: "Name tag",
			args: func() *BlueGreenArgs { a := validArgs(); a.Tags = map[string]string{"Name": "x"}; return &a },
			want: []string{`Tags[Name]: "x" would be overwritten`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := &mocks{res: map[string]pulumi.MockResourceArgs{}}
			_, err := run(t, m, tt.args())
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Empty(t, m.res, "nothing is registered from bad input")
		})
	}
}

// TestWithinAWSLimits holds every resource the component registers, with and without a certificate, against the
// provider's and EC2's limits (internal/awslimits): an apostrophe in a rule description ("app host's") passed
// every mock and failed only at `pulumi up`.
func TestWithinAWSLimits(t *testing.T) {
	t.Parallel()
	for _, cert := range []string{"", certArn} {
		t.Run("certificate="+cert, func(t *testing.T) {
			t.Parallel()
			m := &mocks{res: map[string]pulumi.MockResourceArgs{}}
			args := validArgs()
			args.CertificateArn = cert
			args.Tags = map[string]string{"env": "prod", "owner": "platform-team"}
			_, err := run(t, m, &args)
			require.NoError(t, err)
			require.NotEmpty(t, m.byType("aws:ec2/securityGroup:SecurityGroup"))
			for _, r := range m.res {
				v := awslimits.Check(awslimits.Resource{Type: r.TypeToken, Name: r.Name, Inputs: r.Inputs.Mappable()})
				require.Empty(t, v, "%s %s", r.TypeToken, r.Name)
			}
		})
	}
}

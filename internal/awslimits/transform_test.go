package awslimits

import (
	"sync"
	"testing"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"
)

// recorder is the mock engine: it records which resources reached it.
type recorder struct {
	mu    sync.Mutex
	names []string
}

func (m *recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	m.names = append(m.names, args.Name)
	m.mu.Unlock()
	return args.Name + "-id", args.Inputs, nil
}

func (m *recorder) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return args.Args, nil
}

// run runs a program with the limits registered first, as infra.Deploy does, on the SDK's mock engine.
func run(t *testing.T, program func(ctx *pulumi.Context) error) ([]string, error) {
	t.Helper()
	m := &recorder{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		if err := Register(ctx); err != nil {
			return err
		}
		return program(ctx)
	}, pulumi.WithMocks("deploylab", "test", m))
	return m.names, err
}

// TestTransformationUnderTheEngine shows the check fires inside the program under the SDK's engine protocol
// (pulumi.WithMocks, the path `pulumi preview` takes too): for known values, for values that are outputs of
// other resources, and for resource options; and that a refused resource never reaches the engine.
func TestTransformationUnderTheEngine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		program func(ctx *pulumi.Context) error
		want    string // "" = silent
		refused string // the resource that must not reach the engine
	}{
		{"known value fires", func(ctx *pulumi.Context) error {
			_, err := ec2.NewSecurityGroup(ctx, "web", &ec2.SecurityGroupArgs{Description: pulumi.String("the app host's group")})
			return err
		}, `aws:ec2/securityGroup:SecurityGroup "web": description "the app host's group": has "'"`, "web"},
		{"known value silent", func(ctx *pulumi.Context) error {
			_, err := ec2.NewSecurityGroup(ctx, "web", &ec2.SecurityGroupArgs{Description: pulumi.String("the app host group"),
				Ingress: ec2.SecurityGroupIngressArray{ec2.SecurityGroupIngressArgs{Description: pulumi.String("SSH"), Protocol: pulumi.String("tcp"), FromPort: pulumi.Int(22), ToPort: pulumi.Int(22)}}})
			return err
		}, "", ""},
		{"output of another resource fires", func(ctx *pulumi.Context) error {
			vpc, err := ec2.NewVpc(ctx, "vpc", &ec2.VpcArgs{CidrBlock: pulumi.String("10.0.0.0/16")})
			if err != nil {
				return err
			}
			_, err = ec2.NewSecurityGroup(ctx, "web", &ec2.SecurityGroupArgs{VpcId: vpc.ID(),
				Ingress: ec2.SecurityGroupIngressArray{ec2.SecurityGroupIngressArgs{
					Description: vpc.CidrBlock.ApplyT(func(c string) string { return "from the VPC's range " + c }).(pulumi.StringOutput),
					Protocol:    pulumi.String("tcp"), FromPort: pulumi.Int(22), ToPort: pulumi.Int(22)}}})
			return err
		}, `ingress[0].description "from the VPC's range 10.0.0.0/16"`, "web"},
		{"user data fires by size", func(ctx *pulumi.Context) error {
			_, err := ec2.NewInstance(ctx, "app", &ec2.InstanceArgs{UserData: pulumi.String(string(make([]byte, UserDataLimit+1)))})
			return err
		}, "16385 bytes as EC2 receives them", "app"},
		{"fixed address without deleteBeforeReplace fires", func(ctx *pulumi.Context) error {
			_, err := ec2.NewInstance(ctx, "app", &ec2.InstanceArgs{PrivateIp: pulumi.String("10.0.0.10")})
			return err
		}, "InvalidIPAddress.InUse", "app"},
		{"fixed address with deleteBeforeReplace silent", func(ctx *pulumi.Context) error {
			_, err := ec2.NewInstance(ctx, "app", &ec2.InstanceArgs{PrivateIp: pulumi.String("10.0.0.10")}, pulumi.DeleteBeforeReplace(true))
			return err
		}, "", ""},
		{"tags fire outside EC2 only", func(ctx *pulumi.Context) error {
			if _, err := ec2.NewVpc(ctx, "vpc", &ec2.VpcArgs{Tags: pulumi.StringMap{"owner": pulumi.String("class (2026)")}}); err != nil {
				return err
			}
			_, err := ec2.NewVpc(ctx, "vpc2", &ec2.VpcArgs{Tags: pulumi.StringMap{"aws:owner": pulumi.String("x")}})
			return err
		}, `key "aws:owner" starts with the reserved aws:`, "vpc2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			names, err := run(t, tc.program)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.Contains(t, err.Error(), "source: ", "the message names its upstream source")
			require.NotContains(t, names, tc.refused, "a refused resource reached the engine")
		})
	}
}

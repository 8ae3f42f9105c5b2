package infra

import (
	"github.com/pulumi/pulumi-tls/sdk/v5/go/tls"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/deploylab/deploylab/components/apphost"
	"github.com/deploylab/deploylab/components/bluegreen"
	"github.com/deploylab/deploylab/components/jenkins"
	"github.com/deploylab/deploylab/components/network"
	"github.com/deploylab/deploylab/internal/awslimits"
)

// Deploy composes the components a configuration enables, exports the stack outputs and returns them, so
// tests and `deploylab plan` can read them. The reaper reads `env` and, for training, `expiresAt` from state.
func Deploy(ctx *pulumi.Context, c *Config) (pulumi.Map, error) {
	// Before any resource: every AWS resource from here on is held against the provider's and the APIs' limits,
	// under the real engine and under `deploylab plan`'s mock engine alike (docs/limits.md).
	if err := awslimits.Register(ctx); err != nil {
		return nil, err
	}
	out := pulumi.Map{"env": pulumi.String(c.Env)}
	if c.ExpiresAt != "" {
		out["expiresAt"] = pulumi.String(c.ExpiresAt)
	}
	tags := Tags(c)
	// Students' host addresses, which may reach the class's Kubernetes API.
	studentIPs := map[string]pulumi.StringOutput{}

	if *c.AppHost.Enabled || c.Jenkins.Enabled {
		if err := deployAWS(ctx, c, tags, out, studentIPs); err != nil {
			return nil, err
		}
	}
	if c.GKE.Enabled {
		if err := deployGKE(ctx, c, studentIPs, out); err != nil {
			return nil, err
		}
	}
	for name, value := range out {
		ctx.Export(name, value)
	}
	return out, nil
}

func deployAWS(ctx *pulumi.Context, c *Config, tags map[string]string, out pulumi.Map, studentIPs map[string]pulumi.StringOutput) error {
	net, err := network.NewNetwork(ctx, "net", &network.NetworkArgs{Tags: tags})
	if err != nil {
		return err
	}
	vpc := net.VpcID.ToStringOutput()
	subnet := net.PublicSubnetIDs.Index(pulumi.Int(0)).ToStringOutput()
	if len(c.Classroom.Students) > 0 {
		return deployClassroom(ctx, c, vpc, subnet, tags, out, studentIPs)
	}

	// Order breaks two cycles: Jenkins and the ALB come first, since the host's user data names Jenkins' deploy
	// key, the listener and the target groups; Jenkins reaches the host at a private address fixed in advance,
	// and the host joins the target groups once it exists.
	hostArgs := AppHostArgs(c, vpc, subnet, tags, nil)
	// The host key comes before Jenkins and the host: Jenkins pins its public half in known_hosts (so a replaced
	// host at the same address is still trusted) and the host needs Jenkins' deploy key; made first, neither
	// waits for the other.
	hostKey, err := NewAppHostKey(ctx)
	if err != nil {
		return err
	}
	hostArgs.HostKey = hostKey
	out["appHostPublicKey"] = hostKey.PublicKeyOpenssh
	if c.Jenkins.Enabled {
		hostArgs.PrivateIP = appHostPrivateIP(net)
		ciArgs := JenkinsArgs(c, vpc, subnet, hostArgs.PrivateIP, tags)
		ciArgs.AppHostKey = hostKey.PublicKeyOpenssh
		ci, err := jenkins.NewController(ctx, "jenkins", ciArgs)
		if err != nil {
			return err
		}
		hostArgs.DeployKey = ci.DeployPublicKey
		// The deploy stage runs on the build agent, so SSH comes from the agent, never from the controller.
		hostArgs.SSHFrom = ci.AgentSecurityGroupID.ToStringOutput()
		hostArgs.ExtraPolicyARNs = []pulumi.StringInput{ci.PullPolicyArn}
		hostArgs.ECRRepositoryURL = ci.RepositoryURL
		out["jenkinsUrl"] = ci.URL
		out["jenkinsPublicIp"] = ci.PublicIP
		out["jenkinsAdminPasswordParameter"] = ci.AdminPasswordParameter
		out["jenkinsGitHubTokenParameter"] = ci.GitHubTokenParameter
		out["jenkinsSecretsKeyArn"] = ci.SecretsKeyArn
		out["ecrRepositoryUrl"] = ci.RepositoryURL
	}
	var alb *bluegreen.BlueGreen
	if c.BlueGreen.Enabled {
		alb, err = bluegreen.NewBlueGreen(ctx, "alb", BlueGreenArgs(c, net, tags))
		if err != nil {
			return err
		}
		hostArgs.AppPortsFrom = alb.SecurityGroupID.ToStringOutput()
		hostArgs.ALB = &apphost.ALBSwitch{
			ListenerArn:         alb.ListenerArn,
			BlueTargetGroupArn:  alb.TargetGroupArns["blue"],
			GreenTargetGroupArn: alb.TargetGroupArns["green"],
			DNSName:             alb.DNSName,
			HTTPS:               c.BlueGreen.CertificateArn != "",
		}
		out["albDnsName"] = alb.DNSName
		out["albListenerArn"] = alb.ListenerArn
		out["targetGroupArns"] = pulumi.StringMap{"blue": alb.TargetGroupArns["blue"], "green": alb.TargetGroupArns["green"]}
	}

	host, err := apphost.NewHost(ctx, "app", hostArgs)
	if err != nil {
		return err
	}
	if alb != nil {
		if err := alb.Attach(ctx, host.InstanceID.ToStringOutput()); err != nil {
			return err
		}
	}
	out["appPublicIp"] = host.PublicIP
	out["appPublicDns"] = host.PublicDNS
	out["sshCommand"] = host.SSHCommand
	out["appUrl"] = host.AppURL
	if c.AppHost.PasswordAuth {
		out["passwords"] = host.Passwords
	}
	return nil
}

// NewAppHostKey is the app host's SSH host key (ED25519), kept in state: every replacement of the host serves
// the same key. Its PublicKeyOpenssh is what Jenkins writes to known_hosts (jenkins.ControllerArgs.AppHostKey).
func NewAppHostKey(ctx *pulumi.Context) (*tls.PrivateKey, error) {
	return tls.NewPrivateKey(ctx, "app-host-key", &tls.PrivateKeyArgs{Algorithm: pulumi.String("ED25519")})
}

// appHostPrivateIP is the app host's fixed address: the tenth of the first subnet (AWS keeps the first four).
func appHostPrivateIP(net *network.Network) string {
	addr := net.PublicSubnetCidrs[0].Addr()
	for i := 0; i < 10; i++ {
		addr = addr.Next()
	}
	return addr.String()
}

// deployClassroom gives every student an isolated host of their own (own user, credentials and security
// group) and exports a table a teacher can hand out with `pulumi stack output --show-secrets students`.
func deployClassroom(ctx *pulumi.Context, c *Config, vpc, subnet pulumi.StringOutput, tags map[string]string, out pulumi.Map,
	studentIPs map[string]pulumi.StringOutput) error {
	table, hosts := pulumi.Map{}, pulumi.Map{}
	for _, s := range c.Classroom.Students {
		student := s
		studentTags := copyTags(tags)
		studentTags["student"] = student.Name
		host, err := apphost.NewHost(ctx, "student-"+student.Name, AppHostArgs(c, vpc, subnet, studentTags, &student))
		if err != nil {
			return err
		}
		studentIPs[student.Name] = host.PublicIP
		login := pulumi.Map{
			"host":       host.PublicIP,
			"user":       pulumi.String(student.Name),
			"sshCommand": pulumi.Sprintf("ssh %s@%s", student.Name, host.PublicIP),
		}
		hosts[student.Name] = login
		withPassword := pulumi.Map{"password": host.Passwords.MapIndex(pulumi.String(student.Name))}
		for k, v := range login {
			withPassword[k] = v
		}
		table[student.Name] = withPassword
	}
	// studentHosts is readable by anyone with the stack; students (with passwords) only with --show-secrets.
	out["studentHosts"] = hosts
	out["students"] = pulumi.ToSecret(table)
	return nil
}

// Tags are put on every AWS resource. They are set on each resource rather than as provider default tags so
// that they are visible in the resource inputs a policy pack and `deploylab plan` read.
func Tags(c *Config) map[string]string {
	tags := map[string]string{"env": c.Env, "owner": c.Owner, "managed-by": "deploylab"}
	if c.ExpiresAt != "" {
		tags["expires-at"] = c.ExpiresAt
	}
	return tags
}

func copyTags(tags map[string]string) map[string]string {
	out := make(map[string]string, len(tags)+1)
	for k, v := range tags {
		out[k] = v
	}
	return out
}

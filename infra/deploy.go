package infra

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/deploylab/deploylab/components/apphost"
	"github.com/deploylab/deploylab/components/bluegreen"
	"github.com/deploylab/deploylab/components/gke"
	"github.com/deploylab/deploylab/components/jenkins"
	"github.com/deploylab/deploylab/components/network"
)

// Deploy composes the components a configuration enables, exports the stack outputs and returns them, so
// tests and `deploylab plan` can read them. The reaper reads `env` and, for training, `expiresAt` from state.
func Deploy(ctx *pulumi.Context, c *Config) (pulumi.Map, error) {
	out := pulumi.Map{"env": pulumi.String(c.Env)}
	if c.ExpiresAt != "" {
		out["expiresAt"] = pulumi.String(c.ExpiresAt)
	}
	tags := Tags(c)

	if *c.AppHost.Enabled || c.Jenkins.Enabled {
		if err := deployAWS(ctx, c, tags, out); err != nil {
			return nil, err
		}
	}
	if c.GKE.Enabled {
		args := GKEArgs(c)
		cluster, err := gke.NewCluster(ctx, "gke", &args)
		if err != nil {
			return nil, err
		}
		out["gkeClusterName"] = cluster.Name
		out["gkeEndpoint"] = cluster.Endpoint
		out["kubeconfig"] = cluster.Kubeconfig
	}
	for name, value := range out {
		ctx.Export(name, value)
	}
	return out, nil
}

func deployAWS(ctx *pulumi.Context, c *Config, tags map[string]string, out pulumi.Map) error {
	net, err := network.NewNetwork(ctx, "net", &network.NetworkArgs{Tags: tags})
	if err != nil {
		return err
	}
	subnet := net.PublicSubnetIDs.Index(pulumi.Int(0)).ToStringOutput()

	var ci *jenkins.Controller
	if c.Jenkins.Enabled {
		ci, err = jenkins.NewController(ctx, "jenkins", JenkinsArgs(c, net.VpcID.ToStringOutput(), subnet, tags))
		if err != nil {
			return err
		}
		out["jenkinsUrl"] = ci.URL
		out["jenkinsPublicIp"] = ci.PublicIP
		out["jenkinsAdminPasswordParameter"] = ci.AdminPasswordParameter
		out["ecrRepositoryUrl"] = ci.RepositoryURL
	}

	if len(c.Classroom.Students) > 0 {
		return deployClassroom(ctx, c, net, subnet, tags, out)
	}
	host, err := apphost.NewHost(ctx, "app", AppHostArgs(c, net.VpcID.ToStringOutput(), subnet, ci, tags, nil))
	if err != nil {
		return err
	}
	out["appPublicIp"] = host.PublicIP
	out["appPublicDns"] = host.PublicDNS
	out["sshCommand"] = host.SSHCommand
	out["appUrl"] = host.AppURL
	if c.AppHost.PasswordAuth {
		out["passwords"] = host.Passwords
	}
	if c.BlueGreen.Enabled {
		alb, err := bluegreen.NewBlueGreen(ctx, "alb", BlueGreenArgs(c, net, host, tags))
		if err != nil {
			return err
		}
		out["albDnsName"] = alb.DNSName
		out["albListenerArn"] = alb.ListenerArn
		out["targetGroupArns"] = pulumi.StringMap{
			"blue":  alb.TargetGroupArns["blue"],
			"green": alb.TargetGroupArns["green"],
		}
	}
	return nil
}

// deployClassroom gives every student an isolated host of their own (own user, credentials and security
// group) and exports a table a teacher can hand out with `pulumi stack output --show-secrets students`.
func deployClassroom(ctx *pulumi.Context, c *Config, net *network.Network, subnet pulumi.StringOutput, tags map[string]string, out pulumi.Map) error {
	table, hosts := pulumi.Map{}, pulumi.Map{}
	for _, s := range c.Classroom.Students {
		student := s
		studentTags := copyTags(tags)
		studentTags["student"] = student.Name
		host, err := apphost.NewHost(ctx, "student-"+student.Name,
			AppHostArgs(c, net.VpcID.ToStringOutput(), subnet, nil, studentTags, &student))
		if err != nil {
			return err
		}
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

package jenkins

import (
	_ "embed"
	"encoding/json"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi-tls/sdk/v5/go/tls"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/deploylab/deploylab/internal/cloudinit"
)

// The build agent: a host of its own that runs every build (the built-in node has 0 executors), so a pipeline
// author is root on a disposable host that stores no Jenkins secret, not on the controller (a deploy running on
// it holds the deploy key in an ssh-agent for the deploy's length: README, Decisions, names that residual risk). The controller launches it
// over SSH (ssh-slaves plugin, SSHLauncher) as agentUser with a key only the controller holds (SecureString under
// the Jenkins secrets key, credential scope SYSTEM: no build can bind it), and pins the agent's host key, which the
// stack generates and the agent reads at boot from a SecureString under a KMS key of its own.
const (
	agentUser   = "jenkins"
	agentLabel  = "docker"
	agentRootFS = "/var/lib/jenkins-agent"
	// agentJavaDir holds the Java runtime copied out of JenkinsImage at boot (its JAVA_HOME, /opt/java/openjdk:
	// jenkinsci/docker debian/Dockerfile at 2.568.2): the agent's remoting runs on exactly the controller's Java.
	// Since 2.555.1 Jenkins needs Java 21 on agents too (jenkins.io/doc/upgrade-guide/2.555), which Debian 12 does
	// not package. The builds themselves use Debian's JDK (default-jdk-headless, 17) on PATH.
	agentJavaDir    = "/opt/jenkins-java"
	agentCredential = "agent-ssh"
)

//go:embed files/jenkins-agent-setup.sh
var agentSetupScript string

// AgentConfig is everything the agent's user data depends on: parameter NAMES and public keys, no secret.
type AgentConfig struct {
	// HostKeyParameter names the SecureString holding the agent's SSH host private key.
	HostKeyParameter string
	// Region is the stack's AWS region, for the host key read and the pipelines' aws CLI.
	Region string
	// ControllerKey is the public key the controller logs in with (authorized for agentUser).
	ControllerKey string
	// DeployHost and DeployHostKey pin the app host's key for the deploy stage, which runs here.
	DeployHost, DeployHostKey string
}

// RenderAgentUserData returns the agent's #cloud-config: Docker, git and the aws CLI for the pipelines, the
// controller's key authorized for agentUser (and nobody else may log in), the app host's pinned key.
func RenderAgentUserData(c AgentConfig) (string, error) {
	knownHosts, err := RenderKnownHosts(c.DeployHost, c.DeployHostKey)
	if err != nil {
		return "", err
	}
	env := strings.Join([]string{
		"# Written by cloud-init (deploylab). No secret here: the host key is read from SSM at boot.",
		"AGENT_USER=" + agentUser,
		"AGENT_ROOT_FS=" + agentRootFS,
		"JAVA_DIR=" + agentJavaDir,
		"JAVA_IMAGE=" + JenkinsImage,
		"HOST_KEY_PARAMETER=" + shellQuote(c.HostKeyParameter),
		"AWS_REGION=" + shellQuote(c.Region),
	}, "\n") + "\n"
	lock := true
	return cloudinit.Render(cloudinit.Config{
		Users: []cloudinit.User{{Name: "default"}, {
			Name: agentUser, Gecos: "Jenkins build agent", Shell: "/bin/bash", LockPasswd: &lock,
			SSHAuthorizedKeys: []string{strings.TrimSpace(c.ControllerKey)},
		}},
		PackageUpdate: true,
		Packages:      []string{"docker.io", "awscli", "git", "curl", "default-jdk-headless"},
		WriteFiles: []cloudinit.WriteFile{
			{Path: "/etc/jenkins-agent/agent.env", Content: env, Permissions: "0644"},
			{Path: "/etc/ssh/ssh_known_hosts", Content: knownHosts, Permissions: "0644"},
			{Path: "/etc/ssh/sshd_config.d/00-jenkins-agent.conf", Content: agentSSHDConfig, Permissions: "0644"},
			{Path: "/usr/local/sbin/jenkins-agent-setup", Content: agentSetupScript, Permissions: "0755"},
		},
		RunCmd:       [][]string{{"/usr/local/sbin/jenkins-agent-setup"}},
		FinalMessage: "deploylab jenkins agent: cloud-init done after $UPTIME s",
	})
}

// agentSSHDConfig: only the controller's key for agentUser logs in (sshd keeps the first value it reads, and
// 00- sorts before cloud-init's 50- drop-in). The admin user is not allowed: operators use the controller.
const agentSSHDConfig = `# deploylab: only the Jenkins controller logs in, with its key.
AllowUsers ` + agentUser + `
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowTcpForwarding no
X11Forwarding no
`

// agentNode is the JCasC permanent node of the agent: launched over SSH with the pinned host key, the only node
// that runs builds (label agentLabel, EXCLUSIVE: only jobs that ask for the label).
func agentNode(host, hostKey string, executors int) map[string]any {
	return map[string]any{"permanent": map[string]any{
		"name":              "agent-1",
		"labelString":       agentLabel,
		"mode":              "EXCLUSIVE",
		"numExecutors":      executors,
		"remoteFS":          agentRootFS,
		"retentionStrategy": "always",
		"launcher": map[string]any{"ssh": map[string]any{
			"host":                 host,
			"port":                 22,
			"credentialsId":        agentCredential,
			"javaPath":             agentJavaDir + "/bin/java",
			"launchTimeoutSeconds": 60,
			// The agent boots for minutes (packages, the JDK copy): keep retrying for 30 minutes.
			"maxNumRetries": 60,
			"retryWaitTime": 30,
			// ssh-slaves ManuallyProvidedKeyVerificationStrategy (no @Symbol: JCasC names it after the class):
			// the connection fails unless the agent shows exactly this key.
			"sshHostKeyVerificationStrategy": map[string]any{
				"manuallyProvidedKeyVerificationStrategy": map[string]any{"key": hostKey},
			},
		}},
	}}
}

// agent is what the controller needs from its build agent.
type agent struct {
	privateIP       pulumi.StringOutput
	hostKey         pulumi.StringOutput
	securityGroupID pulumi.IDOutput
}

type agentArgs struct {
	name, ami           string
	a                   ControllerArgs
	controllerSG        pulumi.IDOutput
	controllerKey       pulumi.StringOutput
	repoArn             pulumi.StringOutput
	parameterPrefix     string
	appHost, appHostKey pulumi.StringInput
	tags                func(string) pulumi.StringMap
	parent              pulumi.ResourceOrInvokeOption
}

// newAgent creates the agent host, its role (push to the repository, read its own host key: nothing of the
// controller's secrets), its security group (SSH from the controller only) and its host key.
func newAgent(ctx *pulumi.Context, g agentArgs) (*agent, error) {
	name, parent, tags := g.name+"-agent", g.parent, g.tags
	role, err := iam.NewRole(ctx, name+"-role", &iam.RoleArgs{
		AssumeRolePolicy: pulumi.String(assumeRolePolicy), Tags: tags("-agent-role"),
	}, parent)
	if err != nil {
		return nil, err
	}
	// The host key has its own KMS key that only the agent role decrypts: the app host's role may read any
	// parameter (AmazonSSMManagedInstanceCore) and could otherwise impersonate the agent.
	hostKeyKey, err := newSecretsKey(ctx, name, role, tags("-agent-secrets"), parent)
	if err != nil {
		return nil, err
	}
	hostKey, err := tls.NewPrivateKey(ctx, name+"-host-key", &tls.PrivateKeyArgs{Algorithm: pulumi.String("ED25519")}, parent)
	if err != nil {
		return nil, err
	}
	hostKeyParam, err := ssm.NewParameter(ctx, name+"-host-key", &ssm.ParameterArgs{
		Name: pulumi.String(g.parameterPrefix + "/agent-host-key"), Type: pulumi.String("SecureString"),
		KeyId: hostKeyKey.Arn, Value: hostKey.PrivateKeyOpenssh,
		Description: pulumi.String("SSH host key of the Jenkins build agent (pinned by the controller)"),
		Tags:        tags("-agent-host-key"),
	}, parent)
	if err != nil {
		return nil, err
	}
	if _, err := iam.NewRolePolicy(ctx, name+"-access", &iam.RolePolicyArgs{
		Role: role.Name,
		Policy: pulumi.All(hostKeyParam.Arn, g.repoArn).ApplyT(func(v []any) (string, error) {
			return agentPolicy(v[0].(string), v[1].(string), g.a.PromoteFrom)
		}).(pulumi.StringOutput),
	}, parent); err != nil {
		return nil, err
	}
	profile, err := iam.NewInstanceProfile(ctx, name+"-profile", &iam.InstanceProfileArgs{Role: role.Name, Tags: tags("-agent-profile")}, parent)
	if err != nil {
		return nil, err
	}
	sg, err := ec2.NewSecurityGroup(ctx, name+"-sg", &ec2.SecurityGroupArgs{
		VpcId:       g.a.VpcID,
		Description: pulumi.String("Jenkins build agent: SSH from the controller only"),
		Ingress: ec2.SecurityGroupIngressArray{&ec2.SecurityGroupIngressArgs{
			Description: pulumi.String("SSH from the Jenkins controller (agent launch)"), Protocol: pulumi.String("tcp"),
			FromPort: pulumi.Int(22), ToPort: pulumi.Int(22), SecurityGroups: pulumi.StringArray{g.controllerSG.ToStringOutput()},
		}},
		Egress: ec2.SecurityGroupEgressArray{&ec2.SecurityGroupEgressArgs{
			Description: pulumi.String("packages, images, git, ECR and the app host"),
			Protocol:    pulumi.String("-1"), FromPort: pulumi.Int(0), ToPort: pulumi.Int(0),
			CidrBlocks: pulumi.StringArray{pulumi.String("0.0.0.0/0")}, Ipv6CidrBlocks: pulumi.StringArray{pulumi.String("::/0")},
		}},
		Tags: tags("-agent-sg"),
	}, parent)
	if err != nil {
		return nil, err
	}
	region := aws.GetRegionOutput(ctx, aws.GetRegionOutputArgs{}, parent)
	userData := pulumi.All(hostKeyParam.Name, g.controllerKey, g.appHost, g.appHostKey, region.Name()).ApplyT(func(v []any) (string, error) {
		return compress(RenderAgentUserData(AgentConfig{
			HostKeyParameter: v[0].(string), ControllerKey: v[1].(string),
			DeployHost: v[2].(string), DeployHostKey: v[3].(string), Region: v[4].(string),
		}))
	}).(pulumi.StringOutput)
	instance, err := ec2.NewInstance(ctx, name, &ec2.InstanceArgs{
		Ami:                 pulumi.String(g.ami),
		InstanceType:        pulumi.String(g.a.InstanceType),
		SubnetId:            g.a.SubnetID,
		VpcSecurityGroupIds: pulumi.StringArray{sg.ID()},
		IamInstanceProfile:  profile.Name,
		MetadataOptions: &ec2.InstanceMetadataOptionsArgs{
			HttpTokens: pulumi.String("required"), HttpEndpoint: pulumi.String("enabled"),
			// 1 hop: the pipelines' aws CLI runs on the host; containers a build starts get no credentials.
			HttpPutResponseHopLimit: pulumi.Int(1),
		},
		RootBlockDevice: &ec2.InstanceRootBlockDeviceArgs{
			VolumeType: pulumi.String("gp3"), VolumeSize: pulumi.Int(30), Encrypted: pulumi.Bool(true), DeleteOnTermination: pulumi.Bool(true),
		},
		UserDataBase64:          userData,
		UserDataReplaceOnChange: pulumi.Bool(true),
		Tags:                    tags("-agent"),
	}, parent)
	if err != nil {
		return nil, err
	}
	return &agent{privateIP: instance.PrivateIp, hostKey: hostKey.PublicKeyOpenssh, securityGroupID: sg.ID()}, nil
}

// agentPolicy lets the agent read its own host key and push to (with promoteFrom: also pull from that) the
// repository. No other parameter, no KMS grant: the controller's secrets key policy does not name this role.
func agentPolicy(hostKeyParamArn, repoArn, promoteFrom string) (string, error) {
	statements := []statement{
		{Effect: "Allow", Action: []string{"ssm:GetParameter"}, Resource: []string{hostKeyParamArn}},
		ecrAuth,
		{Effect: "Allow", Action: []string{
			"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload", "ecr:DescribeImages",
			"ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart",
		}, Resource: []string{repoArn}},
	}
	if promoteFrom != "" {
		statements = append(statements, statement{Effect: "Allow", Action: append(pullActions, "ecr:DescribeImages"),
			Resource: []string{ecrRepoArn(promoteFrom)}})
	}
	b, err := json.Marshal(policyDoc(statements...))
	return string(b), err
}

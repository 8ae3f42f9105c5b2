// Package jenkins is the Jenkins controller of deploylab: an EC2 host that runs the pinned Jenkins LTS image in
// Docker, configured entirely as code (JCasC + Job DSL), with jenkins_home on its own EBS volume, its admin
// password and deploy SSH key in SSM SecureStrings, and the ECR repository its deploy pipeline pushes to.
package jenkins

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ebs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi-tls/sdk/v5/go/tls"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/deploylab/deploylab/components/internal/ec2arch"
)

// ControllerArgs configures the controller.
type ControllerArgs struct {
	// VpcID is the VPC of the controller's security group. Required.
	VpcID pulumi.StringInput
	// SubnetID is the public subnet of the controller. Required.
	SubnetID pulumi.StringInput
	// AdminCidrs are the only networks that reach the Jenkins UI (port 8080, or 443 when Domain is set). Required;
	// 0.0.0.0/0 and ::/0 are refused. There is no SSH ingress: operators use SSM Session Manager.
	AdminCidrs []string
	// InstanceType is the EC2 type of the controller and of the build agent. Optional, default t3.medium (Jenkins
	// and builds each want 4 GiB). A Graviton type
	// (t4g.medium, m7g.large, a1.large) gets the arm64 image, any other the amd64 one.
	InstanceType string
	// AppRepo is the git URL of the app the pipelines build. Optional, default https://github.com/example/app.git.
	// A github.com HTTPS URL gets branch and pull request discovery; any other URL branch discovery only.
	AppRepo string
	// Branch is the branch app-deploy builds and deploys. Optional, default main.
	Branch string
	// BuildTool is how Jenkinsfile.dev builds: gradle (default, ./gradlew build) or maven (./mvnw -B verify).
	BuildTool string
	// Executors is the number of builds the build agent runs at once. Optional, default 2. The controller's
	// built-in node has none: every build, and the deploy stage, runs on the agent (a host of its own, agent.go).
	Executors int
	// HomeVolumeGiB is the size of the encrypted gp3 volume holding jenkins_home. Optional, default 30.
	HomeVolumeGiB int
	// KeepHomeOnDestroy keeps jenkins_home (RetainOnDelete + Protect) and refuses to delete an ECR repository
	// that still holds images. Optional, default false; set true in prod.
	KeepHomeOnDestroy bool
	// Domain puts nginx with a Let's Encrypt certificate in front of the UI (80 open for the ACME challenge and the
	// redirect, 443 for AdminCidrs). Optional; without it the UI is http://PUBLIC_IP:8080/ for AdminCidrs.
	Domain string
	// CertbotEmail is the ACME account address. Required when Domain is set.
	CertbotEmail string
	// CertbotStaging uses the Let's Encrypt staging CA. Optional, default false.
	CertbotStaging bool
	// AppHostAddress is the private IP or DNS name of the app host the deploy pipeline SSHes to. Optional: without
	// it the pipelines build and push but do not deploy.
	AppHostAddress pulumi.StringInput
	// AppHostKey is the app host's SSH public host key in OpenSSH format ("ssh-ed25519 AAAA..."), generated in
	// the stack so a replaced host keeps it. Required with AppHostAddress: the pipelines connect with
	// StrictHostKeyChecking=yes against a known_hosts file that pins this key to AppHostAddress.
	AppHostKey pulumi.StringInput
	// PromoteFrom is the ECR repository URL of the stack whose tested images this one promotes (dev's
	// ecrRepositoryUrl output). Optional. Set: the controller runs app-promote (copy an image by digest, a person
	// approves, deploy that digest) instead of app-deploy (build, test and deploy every commit of Branch), and may
	// pull from that repository. Set it for prod: nothing reaches prod without passing dev and an approval.
	PromoteFrom string
	// AppHostUser is the deploy user on the app host. Optional, default deploy.
	AppHostUser string
	// Image is the OS image: debian-12 (default, the AMI from Debian's public SSM parameter for the architecture
	// of InstanceType).
	Image string
	// Tags are added to every resource that takes tags. Optional.
	Tags map[string]string
}

// Controller is the Jenkins controller and what other parts need from it.
type Controller struct {
	pulumi.ResourceState

	// URL is where users open Jenkins.
	URL pulumi.StringOutput `pulumi:"url"`
	// PublicIP is the controller's Elastic IP.
	PublicIP pulumi.StringOutput `pulumi:"publicIp"`
	// AdminPasswordParameter is the NAME of the SSM parameter holding the admin password (not the password).
	AdminPasswordParameter pulumi.StringOutput `pulumi:"adminPasswordParameter"`
	// GitHubTokenParameter is the NAME of the SSM parameter the operator puts the GitHub token in.
	GitHubTokenParameter pulumi.StringOutput `pulumi:"githubTokenParameter"`
	// SecretsKeyArn is the customer-managed KMS key of the controller's SecureStrings.
	SecretsKeyArn pulumi.StringOutput `pulumi:"secretsKeyArn"`
	// DeployPublicKey is the OpenSSH public key to authorize for AppHostUser on the app host.
	DeployPublicKey pulumi.StringOutput `pulumi:"deployPublicKey"`
	// RepositoryURL is the ECR repository of the app image.
	RepositoryURL pulumi.StringOutput `pulumi:"repositoryUrl"`
	// SecurityGroupID is the controller's security group.
	SecurityGroupID pulumi.IDOutput `pulumi:"securityGroupId"`
	// AgentSecurityGroupID is the build agent's security group: the deploy stage runs there, so the app host
	// allows SSH from it (and not from the controller).
	AgentSecurityGroupID pulumi.IDOutput `pulumi:"agentSecurityGroupId"`
	// PullPolicyArn is the IAM policy the app host's role attaches to pull from the repository.
	PullPolicyArn pulumi.StringOutput `pulumi:"pullPolicyArn"`
}

// debianAMIParameters maps Image to the public SSM parameter that names the current AMI, per architecture.
var debianAMIParameters = map[string]string{
	"debian-12": "/aws/service/debian/release/12/latest/",
}

func setDefaults(a ControllerArgs) ControllerArgs {
	if a.InstanceType == "" {
		a.InstanceType = "t3.medium"
	}
	if a.AppRepo == "" {
		a.AppRepo = "https://github.com/example/app.git"
	}
	if a.Branch == "" {
		a.Branch = "main"
	}
	if a.BuildTool == "" {
		a.BuildTool = "gradle"
	}
	if a.Executors == 0 {
		a.Executors = 2
	}
	if a.HomeVolumeGiB == 0 {
		a.HomeVolumeGiB = 30
	}
	if a.AppHostUser == "" {
		a.AppHostUser = "deploy"
	}
	if a.Image == "" {
		a.Image = "debian-12"
	}
	return a
}

var (
	domainRe = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	branchRe = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)
	userRe   = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
)

// validate checks defaulted args and reports every problem at once, naming the field, the value and what is
// accepted.
func validate(a ControllerArgs) error {
	var errs []error
	bad := func(field string, value any, accepted string) {
		errs = append(errs, fmt.Errorf("jenkins.%s: %v is invalid: %s", field, value, accepted))
	}
	if a.VpcID == nil {
		bad("vpcId", "(unset)", "required")
	}
	if a.SubnetID == nil {
		bad("subnetId", "(unset)", "required")
	}
	if len(a.AdminCidrs) == 0 {
		bad("adminCidrs", "[]", "at least one CIDR is required: the UI is reachable only from these")
	}
	for _, c := range a.AdminCidrs {
		_, n, err := net.ParseCIDR(c)
		switch {
		case err != nil:
			bad("adminCidrs", fmt.Sprintf("%q", c), "a CIDR such as 198.51.100.0/24")
		case n.IP.IsUnspecified() && strings.HasSuffix(c, "/0"):
			bad("adminCidrs", fmt.Sprintf("%q", c), "not the whole internet: the Jenkins UI is for admins only")
		}
	}
	if u, err := url.Parse(a.AppRepo); err != nil || (u.Scheme != "https" && u.Scheme != "ssh") || u.Host == "" || strings.ContainsAny(a.AppRepo, "$'\" \n") {
		bad("appRepo", fmt.Sprintf("%q", a.AppRepo), "an https:// or ssh:// git URL without quotes, spaces or $")
	}
	if !branchRe.MatchString(a.Branch) || strings.Contains(a.Branch, "..") {
		bad("branch", fmt.Sprintf("%q", a.Branch), "a git branch name (letters, digits, . _ / -)")
	}
	if a.BuildTool != "gradle" && a.BuildTool != "maven" {
		bad("buildTool", fmt.Sprintf("%q", a.BuildTool), "gradle or maven")
	}
	if a.Executors < 0 || a.Executors > 16 {
		bad("executors", a.Executors, "1 to 16 (unset means 2)")
	}
	if a.HomeVolumeGiB < 10 || a.HomeVolumeGiB > 16384 {
		bad("homeVolumeGiB", a.HomeVolumeGiB, "10 to 16384 GiB (unset means 30)")
	}
	if a.Domain != "" && !domainRe.MatchString(a.Domain) {
		bad("domain", fmt.Sprintf("%q", a.Domain), "a lower-case DNS name such as jenkins.example.com")
	}
	if a.Domain != "" && !strings.Contains(a.CertbotEmail, "@") {
		bad("certbotEmail", fmt.Sprintf("%q", a.CertbotEmail), "an e-mail address (required when domain is set)")
	}
	if a.Domain == "" && (a.CertbotEmail != "" || a.CertbotStaging) {
		bad("certbotEmail", fmt.Sprintf("%q", a.CertbotEmail), "only with a domain")
	}
	if !userRe.MatchString(a.AppHostUser) {
		bad("appHostUser", fmt.Sprintf("%q", a.AppHostUser), "a Linux user name")
	}
	if _, ok := debianAMIParameters[a.Image]; !ok {
		bad("image", fmt.Sprintf("%q", a.Image), "debian-12")
	}
	if _, err := ec2arch.ForInstanceType(a.InstanceType); err != nil {
		bad("instanceType", fmt.Sprintf("%q", a.InstanceType), "an EC2 instance type such as t3.medium (amd64) or t4g.medium (arm64)")
	}
	if a.PromoteFrom != "" && !ecrRepoRe.MatchString(a.PromoteFrom) {
		bad("promoteFrom", fmt.Sprintf("%q", a.PromoteFrom), "an ECR repository URL such as 111122223333.dkr.ecr.eu-central-1.amazonaws.com/jenkins-app-1a2b3c")
	}
	return errors.Join(errs...)
}

// ecrRepoRe is an ECR repository URL: ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME (ECR repository names: lower-case
// letters, digits and . _ - /).
var ecrRepoRe = regexp.MustCompile(`^([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([a-z0-9]+(?:[._/-][a-z0-9]+)*)$`)

// ecrRepoArn is the ARN of the repository at an ECR repository URL (validated by ecrRepoRe).
func ecrRepoArn(repoURL string) string {
	m := ecrRepoRe.FindStringSubmatch(repoURL)
	return "arn:aws:ecr:" + m[2] + ":" + m[1] + ":repository/" + m[3]
}

// ssmNameRe is what SSM accepts in a parameter name (PutParameter API reference: letters, digits, and . - _ /);
// terraform-provider-aws internal/service/ssm/parameter.go checks only the length, 1 to 2048.
var ssmNameRe = regexp.MustCompile(`^[A-Za-z0-9_./-]+$`)

// parameterPrefix is where the controller's SecureStrings live: scoped by project AND stack, so two projects
// with a dev stack in one account never share (or overwrite) each other's secrets.
func parameterPrefix(project, stack, name string) (string, error) {
	prefix := "/deploylab/" + project + "/" + stack + "/" + name
	// SSM allows at most 15 levels.
	longest := prefix + "/deploy-ssh-key"
	if !ssmNameRe.MatchString(longest) || len(longest) > 2048 || strings.Count(longest, "/") > 15 {
		return "", fmt.Errorf("jenkins: SSM parameter prefix %q is invalid: project, stack and component names may hold only letters, digits and . - _ (SSM PutParameter)", prefix)
	}
	return prefix, nil
}

// NewController creates the controller and everything it owns.
func NewController(ctx *pulumi.Context, name string, args *ControllerArgs, opts ...pulumi.ResourceOption) (*Controller, error) {
	if args == nil {
		return nil, errors.New("jenkins: args are required")
	}
	a := setDefaults(*args)
	if err := validate(a); err != nil {
		return nil, err
	}
	c := &Controller{}
	if err := ctx.RegisterComponentResource("deploylab:jenkins:Controller", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	tags := func(suffix string) pulumi.StringMap {
		m := pulumi.StringMap{"Name": pulumi.String(name + suffix)}
		for k, v := range a.Tags {
			m[k] = pulumi.String(v)
		}
		return m
	}

	role, err := iam.NewRole(ctx, name+"-role", &iam.RoleArgs{
		AssumeRolePolicy: pulumi.String(assumeRolePolicy),
		Tags:             tags("-role"),
	}, parent)
	if err != nil {
		return nil, err
	}
	secretsKey, err := newSecretsKey(ctx, name, role, tags("-secrets"), parent)
	if err != nil {
		return nil, err
	}

	// Secrets: generated here, stored only as SecureStrings under the controller's own key; the host reads them
	// at every start of Jenkins.
	password, err := random.NewRandomPassword(ctx, name+"-admin-password", &random.RandomPasswordArgs{
		Length: pulumi.Int(32), Special: pulumi.Bool(true),
		// No $ { }: the value passes through JCasC, which would read ${...} as a variable.
		OverrideSpecial: pulumi.String("-_.,~+"),
	}, parent)
	if err != nil {
		return nil, err
	}
	key, err := tls.NewPrivateKey(ctx, name+"-deploy-key", &tls.PrivateKeyArgs{Algorithm: pulumi.String("ED25519")}, parent)
	if err != nil {
		return nil, err
	}
	prefix, err := parameterPrefix(ctx.Project(), ctx.Stack(), name)
	if err != nil {
		return nil, err
	}
	secureString := func(suffix, description string, value pulumi.StringInput, opts ...pulumi.ResourceOption) (*ssm.Parameter, error) {
		return ssm.NewParameter(ctx, name+"-"+suffix, &ssm.ParameterArgs{
			Name: pulumi.String(prefix + "/" + suffix), Type: pulumi.String("SecureString"), KeyId: secretsKey.Arn,
			Value: value, Description: pulumi.String(description), Tags: tags("-" + suffix),
		}, append([]pulumi.ResourceOption{parent}, opts...)...)
	}
	adminParam, err := secureString("admin-password", "Jenkins admin password (user admin)", password.Result)
	if err != nil {
		return nil, err
	}
	keyParam, err := secureString("deploy-ssh-key", "SSH private key Jenkins deploys to the app host with", key.PrivateKeyOpenssh)
	if err != nil {
		return nil, err
	}
	// The controller's key to launch the build agent: a SYSTEM-scoped credential, which no build can bind.
	agentKey, err := tls.NewPrivateKey(ctx, name+"-agent-ssh-key", &tls.PrivateKeyArgs{Algorithm: pulumi.String("ED25519")}, parent)
	if err != nil {
		return nil, err
	}
	agentKeyParam, err := secureString("agent-ssh-key", "SSH private key the Jenkins controller launches its build agent with", agentKey.PrivateKeyOpenssh)
	if err != nil {
		return nil, err
	}
	// The GitHub token is the operator's, not the stack's: created with a placeholder that the operator
	// overwrites (docs/operations.md); ignoreChanges keeps pulumi up from putting the placeholder back.
	tokenParam, err := secureString("github-token", "GitHub token Jenkins scans and clones the app repository with",
		pulumi.String(gitHubTokenPlaceholder), pulumi.IgnoreChanges([]string{"value"}))
	if err != nil {
		return nil, err
	}

	repo, err := ecr.NewRepository(ctx, name+"-app", &ecr.RepositoryArgs{
		ImageTagMutability:         pulumi.String("IMMUTABLE"),
		ImageScanningConfiguration: &ecr.RepositoryImageScanningConfigurationArgs{ScanOnPush: pulumi.Bool(true)},
		EncryptionConfigurations:   ecr.RepositoryEncryptionConfigurationArray{&ecr.RepositoryEncryptionConfigurationArgs{EncryptionType: pulumi.String("AES256")}},
		ForceDelete:                pulumi.Bool(!a.KeepHomeOnDestroy),
		Tags:                       tags("-app"),
	}, parent, pulumi.Protect(a.KeepHomeOnDestroy)) // the released images are state too
	if err != nil {
		return nil, err
	}
	if _, err := ecr.NewLifecyclePolicy(ctx, name+"-app", &ecr.LifecyclePolicyArgs{
		Repository: repo.Name, Policy: pulumi.String(lifecyclePolicy),
	}, parent); err != nil {
		return nil, err
	}

	if _, err := iam.NewRolePolicyAttachment(ctx, name+"-ssm-core", &iam.RolePolicyAttachmentArgs{
		Role: role.Name, PolicyArn: pulumi.String("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"),
	}, parent); err != nil {
		return nil, err
	}
	if _, err := iam.NewRolePolicy(ctx, name+"-access", &iam.RolePolicyArgs{
		Role: role.Name,
		Policy: pulumi.All(adminParam.Arn, keyParam.Arn, tokenParam.Arn, agentKeyParam.Arn).ApplyT(func(v []any) (string, error) {
			return controllerPolicy([]string{v[0].(string), v[1].(string), v[2].(string), v[3].(string)})
		}).(pulumi.StringOutput),
	}, parent); err != nil {
		return nil, err
	}
	pull, err := iam.NewPolicy(ctx, name+"-pull", &iam.PolicyArgs{
		Description: pulumi.String("Pull the app image from the deploylab ECR repository"),
		Policy:      repo.Arn.ApplyT(func(arn string) (string, error) { return pullPolicy(arn) }).(pulumi.StringOutput),
		Tags:        tags("-pull"),
	}, parent)
	if err != nil {
		return nil, err
	}
	profile, err := iam.NewInstanceProfile(ctx, name+"-profile", &iam.InstanceProfileArgs{Role: role.Name, Tags: tags("-profile")}, parent)
	if err != nil {
		return nil, err
	}

	sg, err := ec2.NewSecurityGroup(ctx, name+"-sg", &ec2.SecurityGroupArgs{
		VpcId:       a.VpcID,
		Description: pulumi.String("Jenkins controller: UI from admin networks only"),
		Ingress:     ingressRules(a.Domain, a.AdminCidrs),
		Egress: ec2.SecurityGroupEgressArray{&ec2.SecurityGroupEgressArgs{
			Description: pulumi.String("packages, images, SSM, git and the app host"),
			Protocol:    pulumi.String("-1"), FromPort: pulumi.Int(0), ToPort: pulumi.Int(0),
			CidrBlocks: pulumi.StringArray{pulumi.String("0.0.0.0/0")}, Ipv6CidrBlocks: pulumi.StringArray{pulumi.String("::/0")},
		}},
		Tags: tags("-sg"),
	}, parent)
	if err != nil {
		return nil, err
	}

	subnet := ec2.LookupSubnetOutput(ctx, ec2.LookupSubnetOutputArgs{Id: a.SubnetID}, parent)
	homeOpts := []pulumi.ResourceOption{parent}
	if a.KeepHomeOnDestroy {
		homeOpts = append(homeOpts, pulumi.RetainOnDelete(true), pulumi.Protect(true))
	}
	home, err := ebs.NewVolume(ctx, name+"-home", &ebs.VolumeArgs{
		AvailabilityZone: subnet.AvailabilityZone(),
		Size:             pulumi.Int(a.HomeVolumeGiB),
		Type:             pulumi.String("gp3"),
		Encrypted:        pulumi.Bool(true),
		Tags:             tags("-home"),
	}, homeOpts...)
	if err != nil {
		return nil, err
	}
	eip, err := ec2.NewEip(ctx, name+"-eip", &ec2.EipArgs{Domain: pulumi.String("vpc"), Tags: tags("-eip")}, parent)
	if err != nil {
		return nil, err
	}

	arch, _ := ec2arch.ForInstanceType(a.InstanceType) // validated above
	ami, err := ssm.LookupParameter(ctx, &ssm.LookupParameterArgs{Name: debianAMIParameters[a.Image] + arch}, parent)
	if err != nil {
		return nil, fmt.Errorf("jenkins: look up the %s %s AMI: %w", a.Image, arch, err)
	}
	appHost, appHostKey := pulumi.StringInput(pulumi.String("")), pulumi.StringInput(pulumi.String(""))
	if a.AppHostAddress != nil {
		appHost = a.AppHostAddress
		if a.AppHostKey != nil {
			appHostKey = a.AppHostKey
		} else {
			// Fail closed: without the key the pinned known_hosts holds nothing and every deploy stops at host key
			// verification, never trusts a first key.
			_ = ctx.Log.Warn("jenkins: appHostKey is unset: deploys fail host key verification until the app host's key is passed", &pulumi.LogArgs{Resource: c})
		}
	}
	builder, err := newAgent(ctx, agentArgs{
		name: name, ami: ami.Value, a: a, controllerSG: sg.ID(), controllerKey: agentKey.PublicKeyOpenssh,
		repoArn: repo.Arn, parameterPrefix: prefix, appHost: appHost, appHostKey: appHostKey, tags: tags, parent: parent,
	})
	if err != nil {
		return nil, err
	}
	userData := pulumi.All(adminParam.Name, keyParam.Name, tokenParam.Name, home.ID(), eip.PublicIp, repo.RepositoryUrl,
		appHost, agentKeyParam.Name, builder.privateIP, builder.hostKey).ApplyT(
		func(v []any) (string, error) {
			h := hostConfig(a, v[4].(string))
			h.AdminPasswordParameter, h.DeployKeyParameter, h.GitHubTokenParameter = v[0].(string), v[1].(string), v[2].(string)
			h.HomeVolumeID, h.RepositoryURL, h.DeployHost = string(v[3].(pulumi.ID)), v[5].(string), v[6].(string)
			h.AgentKeyParameter, h.AgentHost, h.AgentHostKey = v[7].(string), v[8].(string), strings.TrimSpace(v[9].(string))
			return renderCompressedUserData(h)
		}).(pulumi.StringOutput)

	instance, err := ec2.NewInstance(ctx, name, &ec2.InstanceArgs{
		Ami:                 pulumi.String(ami.Value),
		InstanceType:        pulumi.String(a.InstanceType),
		SubnetId:            a.SubnetID,
		VpcSecurityGroupIds: pulumi.StringArray{sg.ID()},
		IamInstanceProfile:  profile.Name,
		MetadataOptions: &ec2.InstanceMetadataOptionsArgs{
			HttpTokens:   pulumi.String("required"),
			HttpEndpoint: pulumi.String("enabled"),
			// 1 hop: only jenkins-secrets on the host needs the role; the Jenkins container (no build runs there
			// any more) is a hop further and gets no token.
			HttpPutResponseHopLimit: pulumi.Int(1),
		},
		RootBlockDevice: &ec2.InstanceRootBlockDeviceArgs{
			VolumeType: pulumi.String("gp3"), VolumeSize: pulumi.Int(20), Encrypted: pulumi.Bool(true), DeleteOnTermination: pulumi.Bool(true),
		},
		// gzip: the document with its scripts is above EC2's 16 KiB user data limit; cloud-init inflates it.
		UserDataBase64: userData,
		// Everything on the host comes from user data and jenkins_home lives on its own volume: a new instance
		// is how a configuration change reaches the host.
		UserDataReplaceOnChange: pulumi.Bool(true),
		Tags:                    tags(""),
	}, parent, pulumi.DeleteBeforeReplace(true))
	if err != nil {
		return nil, err
	}
	// Deleted before replaced: the volume can be attached to one instance only.
	if _, err := ec2.NewVolumeAttachment(ctx, name+"-home", &ec2.VolumeAttachmentArgs{
		DeviceName: pulumi.String(homeDeviceName), InstanceId: instance.ID(), VolumeId: home.ID(),
		StopInstanceBeforeDetaching: pulumi.Bool(true),
	}, parent, pulumi.DeleteBeforeReplace(true)); err != nil {
		return nil, err
	}
	if _, err := ec2.NewEipAssociation(ctx, name+"-eip", &ec2.EipAssociationArgs{
		AllocationId: eip.AllocationId, InstanceId: instance.ID(),
	}, parent); err != nil {
		return nil, err
	}

	c.URL = eip.PublicIp.ApplyT(func(ip string) string { return hostConfig(a, ip).URL() }).(pulumi.StringOutput)
	c.PublicIP = eip.PublicIp
	c.AdminPasswordParameter = adminParam.Name
	c.GitHubTokenParameter = tokenParam.Name
	c.SecretsKeyArn = secretsKey.Arn
	c.DeployPublicKey = key.PublicKeyOpenssh
	c.RepositoryURL = repo.RepositoryUrl
	c.SecurityGroupID = sg.ID()
	c.AgentSecurityGroupID = builder.securityGroupID
	c.PullPolicyArn = pull.Arn
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"url": c.URL, "publicIp": c.PublicIP, "adminPasswordParameter": c.AdminPasswordParameter,
		"githubTokenParameter": c.GitHubTokenParameter, "secretsKeyArn": c.SecretsKeyArn,
		"deployPublicKey": c.DeployPublicKey, "repositoryUrl": c.RepositoryURL,
		"securityGroupId": c.SecurityGroupID, "agentSecurityGroupId": c.AgentSecurityGroupID, "pullPolicyArn": c.PullPolicyArn,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// hostConfig holds the settings that come from the args; the caller fills in the resolved resource values.
func hostConfig(a ControllerArgs, publicIP string) HostConfig {
	return HostConfig{
		PublicIP: publicIP, Executors: a.Executors, AppRepo: a.AppRepo, Branch: a.Branch, BuildTool: a.BuildTool,
		DeployUser: a.AppHostUser, PromoteFrom: a.PromoteFrom, Domain: a.Domain, CertbotEmail: a.CertbotEmail,
		CertbotStaging: a.CertbotStaging, AdminCidrs: a.AdminCidrs,
	}
}

// ingressRules opens the UI to the admin networks only: 8080 directly, or with a domain 443 for admins and 80
// for everyone (the ACME HTTP-01 challenge and the redirect to HTTPS; nginx answers nothing else on it).
func ingressRules(domain string, adminCidrs []string) ec2.SecurityGroupIngressArray {
	var v4, v6 pulumi.StringArray
	for _, c := range adminCidrs {
		if strings.Contains(c, ":") {
			v6 = append(v6, pulumi.String(c))
		} else {
			v4 = append(v4, pulumi.String(c))
		}
	}
	rule := func(port int, desc string, v4, v6 pulumi.StringArray) *ec2.SecurityGroupIngressArgs {
		return &ec2.SecurityGroupIngressArgs{Description: pulumi.String(desc), Protocol: pulumi.String("tcp"),
			FromPort: pulumi.Int(port), ToPort: pulumi.Int(port), CidrBlocks: v4, Ipv6CidrBlocks: v6}
	}
	if domain == "" {
		return ec2.SecurityGroupIngressArray{rule(8080, "Jenkins UI from admin networks", v4, v6)}
	}
	return ec2.SecurityGroupIngressArray{
		rule(443, "Jenkins UI over TLS from admin networks", v4, v6),
		rule(80, "ACME HTTP-01 challenge and redirect to HTTPS",
			pulumi.StringArray{pulumi.String("0.0.0.0/0")}, pulumi.StringArray{pulumi.String("::/0")}),
	}
}

// lifecyclePolicy keeps promoted releases (tag release-*, up to 1000) and otherwise expires untagged images after
// 7 days and all but the 30 newest. An image matched by a rule is never expired by a rule of lower priority
// (ECR user guide, "Lifecycle policy evaluation rules"), so rule 1 shields the releases from rule 3.
const lifecyclePolicy = `{"rules":[` +
	`{"rulePriority":1,"description":"keep promoted releases","selection":{"tagStatus":"tagged","tagPrefixList":["release-"],"countType":"imageCountMoreThan","countNumber":1000},"action":{"type":"expire"}},` +
	`{"rulePriority":2,"description":"expire untagged images after 7 days","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}},` +
	`{"rulePriority":3,"description":"keep the 30 newest other images","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":30},"action":{"type":"expire"}}]}`

type statement struct {
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource []string `json:"Resource,omitempty"`
}

type document struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

func policyDoc(s ...statement) document { return document{Version: "2012-10-17", Statement: s} }

// assumeRolePolicy lets EC2 instances, and nothing else, take the controller role.
const assumeRolePolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

var ecrAuth = statement{Effect: "Allow", Action: []string{"ecr:GetAuthorizationToken"}, Resource: []string{"*"}}

// controllerPolicy lets the controller read its parameters, and nothing more: builds, and with them ECR, are
// the agent's (agentPolicy). Decrypting the parameters is granted by the key policy of their own key
// (secretsKeyPolicy), which names this role.
func controllerPolicy(paramArns []string) (string, error) {
	b, err := json.Marshal(policyDoc(statement{Effect: "Allow", Action: []string{"ssm:GetParameter"}, Resource: paramArns}))
	return string(b), err
}

// pullPolicy lets a host pull images from the repository and nothing else.
func pullPolicy(repoArn string) (string, error) {
	b, err := json.Marshal(policyDoc(ecrAuth, statement{Effect: "Allow", Action: pullActions, Resource: []string{repoArn}}))
	return string(b), err
}

var pullActions = []string{"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}

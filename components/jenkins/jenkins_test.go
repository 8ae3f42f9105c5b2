package jenkins

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"
)

const (
	mockPassword   = "MOCK-ADMIN-PASSWORD-7f3a9c"
	mockPrivateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nMOCKPRIVATEKEY9d2e\n-----END OPENSSH PRIVATE KEY-----\n"
)

type recorded struct {
	typ, name string
	inputs    resource.PropertyMap
}

// mocks records every resource and answers with the outputs the component reads.
type mocks struct {
	mu        sync.Mutex
	resources []recorded
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	m.resources = append(m.resources, recorded{args.TypeToken, args.Name, args.Inputs.Copy()})
	m.mu.Unlock()
	out := args.Inputs.Copy()
	arn := fmt.Sprintf("arn:aws:test:eu-central-1:123456789012:%s/%s", args.TypeToken, args.Name)
	switch args.TypeToken {
	case "random:index/randomPassword:RandomPassword":
		out["result"] = resource.MakeSecret(resource.NewStringProperty(mockPassword))
	case "tls:index/privateKey:PrivateKey":
		out["privateKeyOpenssh"] = resource.MakeSecret(resource.NewStringProperty(mockPrivateKey))
		out["publicKeyOpenssh"] = resource.NewStringProperty("ssh-ed25519 AAAAMOCKPUBLIC jenkins")
	case "aws:ec2/eip:Eip":
		out["publicIp"] = resource.NewStringProperty("203.0.113.10")
		out["allocationId"] = resource.NewStringProperty("eipalloc-1")
	case "aws:ecr/repository:Repository":
		out["repositoryUrl"] = resource.NewStringProperty("123456789012.dkr.ecr.eu-central-1.amazonaws.com/" + args.Name)
		out["name"] = resource.NewStringProperty(args.Name)
	case "aws:ec2/instance:Instance":
		out["privateIp"] = resource.NewStringProperty("10.0.1.30")
	case "aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile":
		out["name"] = resource.NewStringProperty(args.Name)
	}
	out["arn"] = resource.NewStringProperty(arn)
	return args.Name + "-id", out, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	switch args.Token {
	case "aws:ssm/getParameter:getParameter":
		// The AMI id names the architecture the component asked for.
		name := args.Args["name"].StringValue()
		return resource.PropertyMap{"value": resource.NewStringProperty("ami-0debian12-" + name[strings.LastIndex(name, "/")+1:]), "name": args.Args["name"]}, nil
	case "aws:index/getCallerIdentity:getCallerIdentity":
		return resource.PropertyMap{"accountId": resource.NewStringProperty("123456789012"),
			"arn": resource.NewStringProperty("arn:aws:sts::123456789012:assumed-role/ci-deployer/run-42")}, nil
	case "aws:iam/getSessionContext:getSessionContext":
		return resource.PropertyMap{"arn": args.Args["arn"], "issuerArn": resource.NewStringProperty("arn:aws:iam::123456789012:role/ci-deployer")}, nil
	case "aws:index/getRegion:getRegion":
		return resource.PropertyMap{"name": resource.NewStringProperty("eu-central-1")}, nil
	case "aws:index/getPartition:getPartition":
		return resource.PropertyMap{"partition": resource.NewStringProperty("aws")}, nil
	case "aws:ec2/getSubnet:getSubnet":
		return resource.PropertyMap{"availabilityZone": resource.NewStringProperty("eu-central-1a"), "id": args.Args["id"]}, nil
	}
	return nil, fmt.Errorf("unexpected call %s", args.Token)
}

func (m *mocks) byType(typ string) []recorded {
	var r []recorded
	for _, x := range m.resources {
		if x.typ == typ {
			r = append(r, x)
		}
	}
	return r
}

func (m *mocks) one(t *testing.T, typ string) resource.PropertyMap {
	t.Helper()
	r := m.byType(typ)
	require.Len(t, r, 1, typ)
	return r[0].inputs
}

// named returns the inputs of the one resource of type typ called name.
func (m *mocks) named(t *testing.T, typ, name string) resource.PropertyMap {
	t.Helper()
	for _, x := range m.byType(typ) {
		if x.name == name {
			return x.inputs
		}
	}
	require.Failf(t, "no resource", "%s %s", typ, name)
	return nil
}

func baseArgs() *ControllerArgs {
	return &ControllerArgs{
		VpcID: pulumi.String("vpc-1"), SubnetID: pulumi.String("subnet-1"),
		AdminCidrs: []string{"198.51.100.0/24"}, AppHostAddress: pulumi.String("10.0.1.20"),
		AppHostKey: pulumi.String(sampleHostKey + "\n"),
	}
}

func run(t *testing.T, args *ControllerArgs) *mocks {
	t.Helper()
	m := &mocks{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := NewController(ctx, "jenkins", args)
		return err
	}, pulumi.WithMocks("deploylab", "dev", m))
	require.NoError(t, err)
	return m
}

func str(p resource.PropertyMap, path ...string) string {
	v := resource.NewObjectProperty(p)
	for _, k := range path {
		for v.IsSecret() {
			v = v.SecretValue().Element
		}
		v = v.ObjectValue()[resource.PropertyKey(k)]
	}
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	if v.IsString() {
		return v.StringValue()
	}
	return fmt.Sprint(v.V)
}

func TestInstanceAndVolume(t *testing.T) {
	t.Parallel()
	for _, prod := range []bool{false, true} {
		args := baseArgs()
		args.KeepHomeOnDestroy = prod
		m := run(t, args)
		inst := m.named(t, "aws:ec2/instance:Instance", "jenkins")
		require.Equal(t, "required", str(inst, "metadataOptions", "httpTokens"))
		require.Equal(t, "1", str(inst, "metadataOptions", "httpPutResponseHopLimit"), "the container gets no role")
		require.Equal(t, "true", str(inst, "rootBlockDevice", "encrypted"))
		require.Equal(t, "gp3", str(inst, "rootBlockDevice", "volumeType"))
		require.Equal(t, "ami-0debian12-amd64", str(inst, "ami"))
		require.Equal(t, "t3.medium", str(inst, "instanceType"))
		require.Equal(t, "jenkins-profile", str(inst, "iamInstanceProfile"))
		vol := m.one(t, "aws:ebs/volume:Volume")
		require.Equal(t, "true", str(vol, "encrypted"))
		require.Equal(t, "gp3", str(vol, "type"))
		require.Equal(t, "30", str(vol, "size"))
		require.Equal(t, "eu-central-1a", str(vol, "availabilityZone"))
		att := m.one(t, "aws:ec2/volumeAttachment:VolumeAttachment")
		require.Equal(t, "jenkins-home-id", str(att, "volumeId"))
		require.Contains(t, userData(t, inst), "HOME_VOLUME_ID='jenkins-home-id'")
		require.Contains(t, userData(t, inst), "value: 10.0.1.20")
		// The controller launches the agent at its address, pinning the stack-made agent host key.
		require.Contains(t, userData(t, inst), "host: 10.0.1.30")
		require.Contains(t, userData(t, inst), "key: ssh-ed25519 AAAAMOCKPUBLIC jenkins")
	}
}

// TestArchitectureFollowsInstanceType: a Graviton type gets Debian's arm64 image, a bad type a clear error.
func TestArchitectureFollowsInstanceType(t *testing.T) {
	t.Parallel()
	for instanceType, ami := range map[string]string{"t4g.medium": "ami-0debian12-arm64", "m7g.large": "ami-0debian12-arm64",
		"a1.large": "ami-0debian12-arm64", "t3.medium": "ami-0debian12-amd64", "m7i-flex.large": "ami-0debian12-amd64"} {
		args := baseArgs()
		args.InstanceType = instanceType
		m := run(t, args)
		require.Equal(t, ami, str(m.named(t, "aws:ec2/instance:Instance", "jenkins"), "ami"), instanceType)
		require.Equal(t, ami, str(m.named(t, "aws:ec2/instance:Instance", "jenkins-agent"), "ami"), instanceType)
	}
}

// TestHomeVolumeProtection checks RetainOnDelete + Protect on the home volume in prod only, through the
// registered resource options.
func TestHomeVolumeProtection(t *testing.T) {
	t.Parallel()
	for _, keep := range []bool{false, true} {
		args := baseArgs()
		args.KeepHomeOnDestroy = keep
		var protect, retain bool
		m := &mocks{}
		err := pulumi.RunErr(func(ctx *pulumi.Context) error {
			_, err := NewController(ctx, "jenkins", args)
			return err
		}, pulumi.WithMocks("deploylab", "dev", &optionSpy{mocks: m, onVolume: func(p, r bool) { protect, retain = p, r }}))
		require.NoError(t, err)
		require.Equal(t, keep, protect, "protect")
		require.Equal(t, keep, retain, "retainOnDelete")
	}
}

type optionSpy struct {
	*mocks
	onVolume func(protect, retain bool)
}

func (s *optionSpy) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	if args.TypeToken == "aws:ebs/volume:Volume" {
		req := args.RegisterRPC
		s.onVolume(req.GetProtect(), req.GetRetainOnDelete())
	}
	return s.mocks.NewResource(args)
}

// userData inflates the instance's gzipped, base64-encoded user data.
func userData(t *testing.T, inst resource.PropertyMap) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(str(inst, "userDataBase64"))
	require.NoError(t, err)
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	require.NoError(t, err)
	doc, err := io.ReadAll(zr)
	require.NoError(t, err)
	return string(doc)
}

func policy(t *testing.T, s string) document {
	t.Helper()
	var d document
	require.NoError(t, json.Unmarshal([]byte(s), &d), s)
	return d
}

func TestIAMLeastPrivilege(t *testing.T) {
	t.Parallel()
	m := run(t, baseArgs())
	repoArn := "arn:aws:test:eu-central-1:123456789012:aws:ecr/repository:Repository/jenkins-app"
	paramArn := func(n string) string {
		return "arn:aws:test:eu-central-1:123456789012:aws:ssm/parameter:Parameter/" + n
	}
	// The controller reads its secrets and nothing else: builds, and ECR with them, are the agent's.
	access := policy(t, str(m.named(t, "aws:iam/rolePolicy:RolePolicy", "jenkins-access"), "policy"))
	require.Equal(t, []statement{
		{Effect: "Allow", Action: []string{"ssm:GetParameter"}, Resource: []string{paramArn("jenkins-admin-password"),
			paramArn("jenkins-deploy-ssh-key"), paramArn("jenkins-github-token"), paramArn("jenkins-agent-ssh-key")}},
	}, access.Statement)
	// The agent reads its own host key and pushes to the repository: no parameter of the controller.
	access = policy(t, str(m.named(t, "aws:iam/rolePolicy:RolePolicy", "jenkins-agent-access"), "policy"))
	require.Equal(t, []statement{
		{Effect: "Allow", Action: []string{"ssm:GetParameter"}, Resource: []string{paramArn("jenkins-agent-host-key")}},
		{Effect: "Allow", Action: []string{"ecr:GetAuthorizationToken"}, Resource: []string{"*"}},
		{Effect: "Allow", Action: []string{"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload",
			"ecr:DescribeImages", "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"},
			Resource: []string{repoArn}},
	}, access.Statement)
	pull := policy(t, str(m.one(t, "aws:iam/policy:Policy"), "policy"))
	require.Equal(t, []statement{
		{Effect: "Allow", Action: []string{"ecr:GetAuthorizationToken"}, Resource: []string{"*"}},
		{Effect: "Allow", Action: []string{"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}, Resource: []string{repoArn}},
	}, pull.Statement)
	for _, role := range m.byType("aws:iam/role:Role") {
		require.JSONEq(t, assumeRolePolicy, str(role.inputs, "assumeRolePolicy"))
	}
	// Session Manager on the controller only: the agent role gets no managed policy (its ssm:GetParameter on *).
	att := m.one(t, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
	require.Equal(t, "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore", str(att, "policyArn"))
	require.Equal(t, "jenkins-role", str(att, "role"))
	require.Equal(t, "jenkins-agent-role", str(m.named(t, "aws:iam/instanceProfile:InstanceProfile", "jenkins-agent-profile"), "role"))

	// Promoting: pull (and describe) from the source repository, nothing else is added.
	args := baseArgs()
	args.PromoteFrom = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/jenkins-app-1a2b3c"
	access = policy(t, str(run(t, args).named(t, "aws:iam/rolePolicy:RolePolicy", "jenkins-agent-access"), "policy"))
	require.Len(t, access.Statement, 4)
	require.Equal(t, statement{Effect: "Allow", Action: []string{"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:DescribeImages"},
		Resource: []string{"arn:aws:ecr:eu-west-1:111122223333:repository/jenkins-app-1a2b3c"}}, access.Statement[3])
}

// TestSecretsKey: the SecureStrings use the controller's own key, whose policy lets only the controller role
// and the deploying identity decrypt, only through SSM, and keeps kms:Decrypt away from the account (so no IAM
// policy, AmazonSSMManagedInstanceCore included, can grant it).
func TestSecretsKey(t *testing.T) {
	t.Parallel()
	m := run(t, baseArgs())
	via := map[string]map[string]string{"StringEquals": {"kms:ViaService": "ssm.eu-central-1.amazonaws.com"}}
	// The controller's key: its role decrypts, the agent's does not. The agent's host key has a key of its own.
	for keyName, role := range map[string]string{"jenkins-secrets": "jenkins-role", "jenkins-agent-secrets": "jenkins-agent-role"} {
		key := m.named(t, "aws:kms/key:Key", keyName)
		require.Equal(t, "true", str(key, "enableKeyRotation"))
		var doc struct {
			Statement []keyStatement
		}
		require.NoError(t, json.Unmarshal([]byte(str(key, "policy")), &doc))
		decrypters := map[string]map[string]map[string]string{}
		for _, s := range doc.Statement {
			require.Equal(t, "Allow", s.Effect)
			for _, a := range s.Action {
				if a == "kms:Decrypt" || a == "kms:*" || strings.HasPrefix(a, "kms:ReEncrypt") || a == "kms:Decrypt*" {
					decrypters[s.Principal["AWS"]] = s.Condition
				}
			}
		}
		require.Equal(t, map[string]map[string]map[string]string{
			"arn:aws:test:eu-central-1:123456789012:aws:iam/role:Role/" + role: via,
			"arn:aws:iam::123456789012:role/ci-deployer":                       via,
		}, decrypters, keyName)
		require.Equal(t, "arn:aws:iam::123456789012:root", doc.Statement[0].Principal["AWS"])
		require.Contains(t, doc.Statement[0].Action, "kms:Put*", "the account keeps administration (PutKeyPolicy)")
	}
	for _, p := range m.byType("aws:ssm/parameter:Parameter") {
		want := "arn:aws:test:eu-central-1:123456789012:aws:kms/key:Key/jenkins-secrets"
		if p.name == "jenkins-agent-host-key" {
			want = "arn:aws:test:eu-central-1:123456789012:aws:kms/key:Key/jenkins-agent-secrets"
		}
		require.Equal(t, want, str(p.inputs, "keyId"), p.name)
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	m := run(t, baseArgs())
	params := m.byType("aws:ssm/parameter:Parameter")
	require.Len(t, params, 5)
	names := map[string]bool{}
	for _, p := range params {
		require.Equal(t, "SecureString", str(p.inputs, "type"))
		if p.name != "jenkins-github-token" { // the operator's token replaces a placeholder
			require.True(t, p.inputs["value"].IsSecret(), "%s value must be secret", p.name)
		}
		names[str(p.inputs, "name")] = true
	}
	// Scoped by project and stack: another project's dev stack in the account has its own names.
	require.Equal(t, map[string]bool{"/deploylab/deploylab/dev/jenkins/admin-password": true,
		"/deploylab/deploylab/dev/jenkins/deploy-ssh-key": true, "/deploylab/deploylab/dev/jenkins/github-token": true,
		"/deploylab/deploylab/dev/jenkins/agent-ssh-key": true, "/deploylab/deploylab/dev/jenkins/agent-host-key": true}, names)
	// The plain secrets appear nowhere but in the (secret) values of the four parameters (password, deploy key,
	// agent key, agent host key); the search itself is checked by finding them there.
	found := 0
	for _, r := range m.resources {
		for k, v := range r.inputs {
			s := strings.Join(flatten(v), "\n")
			if r.typ == "aws:ssm/parameter:Parameter" && k == "value" {
				if strings.Contains(s, mockPassword) || strings.Contains(s, "MOCKPRIVATEKEY9d2e") {
					found++
				}
				continue
			}
			for _, secret := range []string{mockPassword, "MOCKPRIVATEKEY9d2e"} {
				require.NotContains(t, s, secret, "%s %s input %s", r.typ, r.name, k)
			}
		}
	}
	require.Equal(t, 4, found)
	keys := m.byType("tls:index/privateKey:PrivateKey")
	require.Len(t, keys, 3)
	for _, k := range keys {
		require.Equal(t, "ED25519", str(k.inputs, "algorithm"), k.name)
	}
}

// flatten returns every string inside v, secrets unwrapped.
func flatten(v resource.PropertyValue) []string {
	switch {
	case v.IsSecret():
		return flatten(v.SecretValue().Element)
	case v.IsString():
		return []string{v.StringValue()}
	case v.IsArray():
		var out []string
		for _, e := range v.ArrayValue() {
			out = append(out, flatten(e)...)
		}
		return out
	case v.IsObject():
		var out []string
		for _, e := range v.ObjectValue() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return nil
}

func TestECR(t *testing.T) {
	t.Parallel()
	m := run(t, baseArgs())
	repo := m.one(t, "aws:ecr/repository:Repository")
	require.Equal(t, "IMMUTABLE", str(repo, "imageTagMutability"))
	require.Equal(t, "true", str(repo, "imageScanningConfiguration", "scanOnPush"))
	var lp struct {
		Rules []struct {
			RulePriority int `json:"rulePriority"`
			Selection    struct {
				TagStatus, CountType, CountUnit string
				TagPrefixList                   []string
				CountNumber                     int
			}
			Action struct{ Type string }
		}
	}
	require.NoError(t, json.Unmarshal([]byte(str(m.one(t, "aws:ecr/lifecyclePolicy:LifecyclePolicy"), "policy")), &lp))
	require.Len(t, lp.Rules, 3)
	// Promoted releases match the first rule, so the lower-priority count rule never expires them.
	require.Equal(t, 1, lp.Rules[0].RulePriority)
	require.Equal(t, []string{"release-"}, lp.Rules[0].Selection.TagPrefixList)
	require.Equal(t, 1000, lp.Rules[0].Selection.CountNumber)
	require.Equal(t, "untagged", lp.Rules[1].Selection.TagStatus)
	require.Equal(t, "sinceImagePushed", lp.Rules[1].Selection.CountType)
	require.Equal(t, 7, lp.Rules[1].Selection.CountNumber)
	require.Equal(t, "any", lp.Rules[2].Selection.TagStatus)
	require.Equal(t, "imageCountMoreThan", lp.Rules[2].Selection.CountType)
	require.Equal(t, 30, lp.Rules[2].Selection.CountNumber)
	require.Greater(t, lp.Rules[2].RulePriority, lp.Rules[1].RulePriority, "the any rule must come last")
}

var sgDescriptionOK = func(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(". _-:/()#,@[]+=&;{}!$*", r)) {
			return false
		}
	}
	return true
}

func TestSecurityGroup(t *testing.T) {
	t.Parallel()
	for _, domain := range []string{"", "jenkins.example.com"} {
		args := baseArgs()
		args.Domain, args.AdminCidrs = domain, []string{"198.51.100.0/24", "2001:db8::/32"}
		if domain != "" {
			args.CertbotEmail = "ops@example.com"
		}
		m := run(t, args)
		sg := m.named(t, "aws:ec2/securityGroup:SecurityGroup", "jenkins-sg")
		ports := map[string][]string{}
		for _, rule := range sg["ingress"].ArrayValue() {
			r := rule.ObjectValue()
			require.True(t, sgDescriptionOK(r["description"].StringValue()), r["description"].StringValue())
			port := fmt.Sprint(r["fromPort"].NumberValue())
			require.Equal(t, port, fmt.Sprint(r["toPort"].NumberValue()))
			for _, key := range []resource.PropertyKey{"cidrBlocks", "ipv6CidrBlocks"} {
				if r[key].IsArray() {
					for _, c := range r[key].ArrayValue() {
						ports[port] = append(ports[port], c.StringValue())
						if c.StringValue() == "0.0.0.0/0" || c.StringValue() == "::/0" {
							require.Contains(t, []string{"80", "443"}, port, "only 80/443 may be open to the world")
						}
					}
				}
			}
		}
		admins := []string{"198.51.100.0/24", "2001:db8::/32"}
		if domain == "" {
			require.Equal(t, map[string][]string{"8080": admins}, ports)
		} else {
			require.Equal(t, map[string][]string{"443": admins, "80": {"0.0.0.0/0", "::/0"}}, ports)
		}
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		mutate func(*ControllerArgs)
		want   []string
	}{
		"world admin":     {func(a *ControllerArgs) { a.AdminCidrs = []string{"0.0.0.0/0"} }, []string{`jenkins.adminCidrs: "0.0.0.0/0"`}},
		"no admin":        {func(a *ControllerArgs) { a.AdminCidrs = nil }, []string{"jenkins.adminCidrs"}},
		"bad cidr":        {func(a *ControllerArgs) { a.AdminCidrs = []string{"10.0.0.300/8"} }, []string{`"10.0.0.300/8"`}},
		"tool and volume": {func(a *ControllerArgs) { a.BuildTool = "ant"; a.HomeVolumeGiB = 5 }, []string{`jenkins.buildTool: "ant"`, "jenkins.homeVolumeGiB: 5"}},
		"domain no email": {func(a *ControllerArgs) { a.Domain = "jenkins.example.com" }, []string{"jenkins.certbotEmail"}},
		"repo with $":     {func(a *ControllerArgs) { a.AppRepo = "https://x.example/${a}" }, []string{"jenkins.appRepo"}},
		"image":           {func(a *ControllerArgs) { a.Image = "ubuntu-20.04" }, []string{`jenkins.image: "ubuntu-20.04"`}},
		"no vpc":          {func(a *ControllerArgs) { a.VpcID = nil }, []string{"jenkins.vpcId"}},
		"instance type":   {func(a *ControllerArgs) { a.InstanceType = "t4g" }, []string{`jenkins.instanceType: "t4g"`, "t4g.medium (arm64)"}},
		"promote from":    {func(a *ControllerArgs) { a.PromoteFrom = "docker.io/library/app" }, []string{`jenkins.promoteFrom: "docker.io/library/app"`}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := baseArgs()
			tc.mutate(a)
			err := pulumi.RunErr(func(ctx *pulumi.Context) error {
				_, err := NewController(ctx, "jenkins", a)
				return err
			}, pulumi.WithMocks("deploylab", "dev", &mocks{}))
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := NewController(ctx, "jenkins", nil)
		return err
	}, pulumi.WithMocks("deploylab", "dev", &mocks{}))
	require.ErrorContains(t, err, "args are required")
}

// TestAgent: the build agent is reachable on SSH from the controller's security group only, requires IMDSv2 with
// one hop, has an encrypted root volume, and its user data carries the controller's public key and the pinned app
// host, never a private key.
func TestAgent(t *testing.T) {
	t.Parallel()
	m := run(t, baseArgs())
	sg := m.named(t, "aws:ec2/securityGroup:SecurityGroup", "jenkins-agent-sg")
	ingress := sg["ingress"].ArrayValue()
	require.Len(t, ingress, 1)
	r := ingress[0].ObjectValue()
	require.True(t, sgDescriptionOK(r["description"].StringValue()))
	require.Equal(t, "tcp", r["protocol"].StringValue())
	require.Equal(t, 22.0, r["fromPort"].NumberValue())
	require.Equal(t, 22.0, r["toPort"].NumberValue())
	require.Equal(t, []string{"jenkins-sg-id"}, flatten(r["securityGroups"]))
	require.Empty(t, flatten(r["cidrBlocks"]), "nothing from any network")
	require.Empty(t, flatten(r["ipv6CidrBlocks"]))

	inst := m.named(t, "aws:ec2/instance:Instance", "jenkins-agent")
	require.Equal(t, "required", str(inst, "metadataOptions", "httpTokens"))
	require.Equal(t, "1", str(inst, "metadataOptions", "httpPutResponseHopLimit"))
	require.Equal(t, "true", str(inst, "rootBlockDevice", "encrypted"))
	require.Equal(t, "jenkins-agent-profile", str(inst, "iamInstanceProfile"))
	require.Equal(t, []string{"jenkins-agent-sg-id"}, flatten(inst["vpcSecurityGroupIds"]))
	require.Equal(t, "true", str(inst, "userDataReplaceOnChange"))
	ud := userData(t, inst)
	require.Contains(t, ud, "ssh-ed25519 AAAAMOCKPUBLIC jenkins", "the controller's key is authorized")
	require.Contains(t, ud, "10.0.1.20 "+sampleHostKey+"\n", "the app host's key is pinned where the deploy runs")
	require.Contains(t, ud, "HOST_KEY_PARAMETER='/deploylab/deploylab/dev/jenkins/agent-host-key'")
	require.Contains(t, ud, "AWS_REGION='eu-central-1'")
	require.NotContains(t, ud, "MOCKPRIVATEKEY9d2e")
	require.Less(t, len(str(inst, "userDataBase64")), 13107, "80% of EC2's 16 KiB")

	// The app host takes SSH from the agent, where the deploy stage runs.
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		c, err := NewController(ctx, "jenkins", baseArgs())
		if err != nil {
			return err
		}
		c.AgentSecurityGroupID.ApplyT(func(id pulumi.ID) error {
			require.Equal(t, pulumi.ID("jenkins-agent-sg-id"), id)
			return nil
		})
		return nil
	}, pulumi.WithMocks("deploylab", "dev", &mocks{}))
	require.NoError(t, err)
}

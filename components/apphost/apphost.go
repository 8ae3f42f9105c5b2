// Package apphost is the EC2 host that runs the app in blue and green containers behind nginx, built entirely by
// cloud-init: users and SSH, Docker, nginx, certbot, deploy.sh and its env file. The user data and the files
// bundle it fetches from the host's own bucket (sha256-pinned; EC2 takes at most 16 KB of user data) come from a
// pure renderer (RenderUserData), so what the tests check with the real tools is exactly what boots.
package apphost

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/deploylab/deploylab/components/internal/ec2arch"
	"github.com/deploylab/deploylab/internal/shacrypt"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi-tls/sdk/v5/go/tls"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// SSMManagedPolicyARN lets the SSM agent register, which makes Session Manager the no-SSH way in.
const SSMManagedPolicyARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"

// HopLimit is the IMDSv2 PUT response hop limit. 1 keeps the instance role's credentials on the host: a container
// on Docker's bridge network is one hop further and gets no token. Nothing in a container needs AWS credentials
// (the host pulls images and switches the ALB), so a compromised app cannot act as the host.
const HopLimit = 1

// Host is an app host.
type Host struct {
	pulumi.ResourceState

	InstanceID pulumi.IDOutput `pulumi:"instanceId"`
	// PublicIP and PublicDNS are the Elastic IP's when ElasticIP is set, otherwise the instance's.
	PublicIP  pulumi.StringOutput `pulumi:"publicIp"`
	PublicDNS pulumi.StringOutput `pulumi:"publicDns"`
	// SSHCommand logs in as the admin, e.g. "ssh deploy@203.0.113.10".
	SSHCommand pulumi.StringOutput `pulumi:"sshCommand"`
	// AppURL is https://Domain with a domain, else http://PublicDNS.
	AppURL pulumi.StringOutput `pulumi:"appUrl"`
	// Passwords maps user to password for the users with PasswordAuth; always secret.
	Passwords       pulumi.StringMapOutput `pulumi:"passwords"`
	SecurityGroupID pulumi.IDOutput        `pulumi:"securityGroupId"`
	// HostPublicKey is the host's SSH host key in OpenSSH format, for a known_hosts line.
	HostPublicKey pulumi.StringOutput `pulumi:"hostPublicKey"`
	// FilesBucket is the host's own bucket: its files bundle and host key.
	FilesBucket pulumi.IDOutput `pulumi:"filesBucket"`
}

// NewHost creates the host, its security group, role, instance profile, passwords and optional Elastic IP.
func NewHost(ctx *pulumi.Context, name string, args *HostArgs, opts ...pulumi.ResourceOption) (*Host, error) {
	if args == nil {
		return nil, errors.New("apphost: args are required (want at least SubnetID and VpcID)")
	}
	a := args.withDefaults()
	if err := errors.Join(append(a.validateHost(), a.validateUserData()...)...); err != nil {
		return nil, fmt.Errorf("apphost %s: %w", name, err)
	}
	rules, err := securityRules(a)
	if err != nil {
		return nil, fmt.Errorf("apphost %s: %w", name, err)
	}

	host := &Host{}
	if err := ctx.RegisterComponentResource("deploylab:apphost:Host", name, host, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(host)
	tags := func(suffix string) pulumi.StringMap {
		m := pulumi.StringMap{"Name": pulumi.String(name + suffix)}
		for k, v := range a.Tags {
			m[k] = pulumi.String(v)
		}
		return m
	}

	arch, _ := ec2arch.ForInstanceType(a.InstanceType) // validated above
	ami, err := ssm.LookupParameter(ctx, &ssm.LookupParameterArgs{Name: fmt.Sprintf(images[a.Image].ssmParameter, arch)}, parent)
	if err != nil {
		return nil, fmt.Errorf("apphost %s: look up the %s image: %w", name, a.Image, err)
	}

	sg, err := ec2.NewSecurityGroup(ctx, name+"-sg", &ec2.SecurityGroupArgs{
		VpcId:       a.VpcID,
		Description: pulumi.String(sgDescription),
		Ingress:     rules.ingress,
		Egress:      rules.egress,
		Tags:        tags("-sg"),
	}, parent)
	if err != nil {
		return nil, err
	}

	role, err := iam.NewRole(ctx, name+"-role", &iam.RoleArgs{
		Description:      pulumi.String("deploylab app host " + name),
		AssumeRolePolicy: pulumi.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`),
		Tags:             tags("-role"),
	}, parent)
	if err != nil {
		return nil, err
	}
	policies := append([]pulumi.StringInput{pulumi.String(SSMManagedPolicyARN)}, a.ExtraPolicyARNs...)
	for i, arn := range policies {
		suffix := "-ssm"
		if i > 0 {
			suffix = fmt.Sprintf("-policy-%d", i)
		}
		if _, err := iam.NewRolePolicyAttachment(ctx, name+suffix, &iam.RolePolicyAttachmentArgs{Role: role.Name, PolicyArn: arn}, parent); err != nil {
			return nil, err
		}
	}
	profile, err := iam.NewInstanceProfile(ctx, name+"-profile", &iam.InstanceProfileArgs{Role: role.Name, Tags: tags("-profile")}, parent)
	if err != nil {
		return nil, err
	}

	passwords, hashes, err := newPasswords(ctx, name, a.passwordUsers(), parent)
	if err != nil {
		return nil, err
	}
	deployKey := pulumi.String("").ToStringOutput()
	if a.DeployKey != nil {
		deployKey = a.DeployKey.ToStringOutput()
	}
	alb, registry := optionalString(nil), optionalString(a.ECRRepositoryURL)
	if a.ALB != nil {
		alb = pulumi.All(a.ALB.ListenerArn, a.ALB.BlueTargetGroupArn, a.ALB.GreenTargetGroupArn, a.ALB.DNSName).ApplyT(func(v []any) string {
			return strings.Join([]string{v[0].(string), v[1].(string), v[2].(string), v[3].(string)}, " ")
		}).(pulumi.StringOutput)
		if err := allowALBSwitch(ctx, name, role, a.ALB.ListenerArn, parent); err != nil {
			return nil, err
		}
	}
	files, err := newFilesBucket(ctx, name, a, role, parent)
	if err != nil {
		return nil, err
	}
	rendered := pulumi.All(hashes.ToStringMapOutput(), deployKey, alb, registry, files.bucket.ID()).ApplyT(func(v []any) (Rendered, error) {
		// The tls provider ends an OpenSSH public key with a newline; authorized_keys wants one line.
		u := UserDataArgs{Host: a, DeployKey: strings.TrimSpace(v[1].(string)), PasswordHashes: v[0].(map[string]string),
			FilesBucket: string(v[4].(pulumi.ID)), HostKey: true}
		if f := strings.Fields(v[2].(string)); len(f) == 4 {
			u.ALB = &ALBTargets{Listener: f[0], Blue: f[1], Green: f[2], DNSName: f[3], HTTPS: a.ALB.HTTPS}
		}
		u.ECRRepository = v[3].(string)
		return RenderUserData(u)
	})
	userData := rendered.ApplyT(func(r any) string { return r.(Rendered).UserData }).(pulumi.StringOutput)
	// The bundle holds no secret (password hashes are in the user data only, the host key is its own object):
	// it is not marked secret just because the same render read the password hashes.
	bundle := pulumi.Unsecret(rendered.ApplyT(func(r any) string {
		return base64.StdEncoding.EncodeToString(r.(Rendered).Bundle.Archive)
	}).(pulumi.StringOutput)).(pulumi.StringOutput)
	objects, err := files.upload(ctx, name, bundle, parent)
	if err != nil {
		return nil, err
	}
	instanceOpts := []pulumi.ResourceOption{parent,
		// The SSM parameter moves to each new image release; following it would replace the host on an ordinary
		// `pulumi up`. A new image is taken deliberately: `pulumi up --replace <instance URN>`.
		pulumi.IgnoreChanges([]string{"ami"}),
		// The host fetches its files at boot: they and the right to read them exist first.
		pulumi.DependsOn(objects)}
	if a.PrivateIP != "" {
		reservation, err := ec2.NewSubnetCidrReservation(ctx, name+"-ip", &ec2.SubnetCidrReservationArgs{
			SubnetId:        a.SubnetID,
			CidrBlock:       pulumi.String(a.PrivateIP + "/32"),
			ReservationType: pulumi.String("explicit"), // AWS assigns none of it; only an explicit request gets it
			Description:     pulumi.String("deploylab app host " + name + " fixed address"),
		}, parent)
		if err != nil {
			return nil, err
		}
		// private_ip is ForceNew and one address is held by one instance: the default create-before-delete
		// would fail with InvalidIPAddress.InUse, so the old host goes first.
		instanceOpts = append(instanceOpts, pulumi.DeleteBeforeReplace(true), pulumi.DependsOn([]pulumi.Resource{reservation}))
	}

	instance, err := ec2.NewInstance(ctx, name, &ec2.InstanceArgs{
		Ami:                      pulumi.String(ami.Value),
		InstanceType:             pulumi.String(a.InstanceType),
		SubnetId:                 a.SubnetID,
		VpcSecurityGroupIds:      pulumi.StringArray{sg.ID()},
		IamInstanceProfile:       profile.Name,
		AssociatePublicIpAddress: pulumi.Bool(true),
		PrivateIp:                optionalPlainString(a.PrivateIP),
		MetadataOptions: &ec2.InstanceMetadataOptionsArgs{
			HttpEndpoint:            pulumi.String("enabled"),
			HttpTokens:              pulumi.String("required"),
			HttpPutResponseHopLimit: pulumi.Int(HopLimit),
		},
		RootBlockDevice: &ec2.InstanceRootBlockDeviceArgs{
			VolumeType:          pulumi.String("gp3"),
			VolumeSize:          pulumi.Int(a.VolumeSizeGiB),
			Encrypted:           pulumi.Bool(true),
			DeleteOnTermination: pulumi.Bool(true),
			Tags:                tags("-root"),
		},
		UserData: userData,
		// cloud-init runs user data on the first boot only: changed user data on a running host would be recorded
		// but never applied, and the host would silently differ from the code. Replacing it makes the change real.
		// The stable password salts keep unchanged code from producing changed user data.
		UserDataReplaceOnChange: pulumi.Bool(true),
		Tags:                    tags(""),
	}, instanceOpts...)
	if err != nil {
		return nil, err
	}

	host.InstanceID = instance.ID()
	host.PublicIP, host.PublicDNS = instance.PublicIp, instance.PublicDns
	if a.ElasticIP {
		eip, err := ec2.NewEip(ctx, name+"-eip", &ec2.EipArgs{Domain: pulumi.String("vpc"), Instance: instance.ID(), Tags: tags("-eip")}, parent)
		if err != nil {
			return nil, err
		}
		host.PublicIP, host.PublicDNS = eip.PublicIp, eip.PublicDns
	}
	host.SSHCommand = pulumi.Sprintf("ssh %s@%s", a.AdminUser, host.PublicIP)
	host.AppURL = pulumi.Sprintf("http://%s", host.PublicDNS)
	if a.Domain != "" {
		host.AppURL = pulumi.String("https://" + a.Domain).ToStringOutput()
	}
	host.Passwords = pulumi.ToSecret(passwords.ToStringMapOutput()).(pulumi.StringMapOutput)
	host.SecurityGroupID = sg.ID()
	host.HostPublicKey = files.hostKey.PublicKeyOpenssh
	host.FilesBucket = files.bucket.ID()

	if err := ctx.RegisterResourceOutputs(host, pulumi.Map{
		"instanceId":      host.InstanceID,
		"publicIp":        host.PublicIP,
		"publicDns":       host.PublicDNS,
		"sshCommand":      host.SSHCommand,
		"appUrl":          host.AppURL,
		"passwords":       host.Passwords,
		"securityGroupId": host.SecurityGroupID,
		"hostPublicKey":   host.HostPublicKey,
		"filesBucket":     host.FilesBucket,
	}); err != nil {
		return nil, err
	}
	return host, nil
}

// newPasswords creates a random password and a random salt per user. Both are created once and kept in state,
// so the SHA-512-crypt hash (and with it the user data) stays the same on every later `pulumi up`. Only the hash
// is returned for the user data; the passwords go to the secret output.
func newPasswords(ctx *pulumi.Context, name string, users []string, opts ...pulumi.ResourceOption) (passwords, hashes pulumi.StringMap, err error) {
	passwords, hashes = pulumi.StringMap{}, pulumi.StringMap{}
	for _, user := range users {
		pw, err := random.NewRandomPassword(ctx, name+"-password-"+user, &random.RandomPasswordArgs{
			Length: pulumi.Int(24), Special: pulumi.Bool(false), // ~140 bits; no symbols to mistype in class
			MinUpper: pulumi.Int(2), MinLower: pulumi.Int(2), MinNumeric: pulumi.Int(2),
		}, opts...)
		if err != nil {
			return nil, nil, err
		}
		salt, err := random.NewRandomString(ctx, name+"-salt-"+user, &random.RandomStringArgs{
			Length: pulumi.Int(shacrypt.MaxSaltLen), Special: pulumi.Bool(false), // [A-Za-z0-9] is inside crypt's salt alphabet
		}, opts...)
		if err != nil {
			return nil, nil, err
		}
		passwords[user] = pw.Result
		hashes[user] = pulumi.All(pw.Result, salt.Result).ApplyT(func(v []any) (string, error) {
			return shacrypt.Hash(v[0].(string), v[1].(string))
		}).(pulumi.StringOutput)
	}
	return passwords, hashes, nil
}

const sgDescription = "deploylab app host: SSH from admin CIDRs, HTTP(S) from anywhere"

// sgDescriptionRe is what EC2 accepts in group and rule descriptions; anything else (an apostrophe, say) fails
// only at `pulumi up`, so it is checked here.
var sgDescriptionRe = regexp.MustCompile(`^[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]{0,255}$`)

type sgRules struct {
	ingress ec2.SecurityGroupIngressArray
	egress  ec2.SecurityGroupEgressArray
}

// securityRules is the whole firewall: 22 from AdminCidrs, 80 and 443 from anywhere, the colour ports from
// AppPortsFrom only, all egress (packages, images, Let's Encrypt).
func securityRules(a HostArgs) (sgRules, error) {
	var r sgRules
	descriptions := []string{sgDescription}
	tcp := func(port int, desc string, v4, v6 []string, from pulumi.StringInput) {
		rule := ec2.SecurityGroupIngressArgs{
			Protocol: pulumi.String("tcp"), FromPort: pulumi.Int(port), ToPort: pulumi.Int(port),
			Description: pulumi.String(desc),
		}
		if len(v4) > 0 {
			rule.CidrBlocks = pulumi.ToStringArray(v4)
		}
		if len(v6) > 0 {
			rule.Ipv6CidrBlocks = pulumi.ToStringArray(v6)
		}
		if from != nil {
			rule.SecurityGroups = pulumi.StringArray{from}
		}
		r.ingress = append(r.ingress, rule)
		descriptions = append(descriptions, desc)
	}
	var v4, v6 []string
	for _, c := range a.AdminCidrs {
		if strings.Contains(c, ":") {
			v6 = append(v6, c)
		} else {
			v4 = append(v4, c)
		}
	}
	if len(a.AdminCidrs) > 0 {
		tcp(22, "SSH from admin CIDRs", v4, v6, nil)
	}
	world4, world6 := []string{"0.0.0.0/0"}, []string{"::/0"}
	tcp(80, "HTTP from anywhere (site and Lets Encrypt HTTP-01)", world4, world6, nil)
	tcp(443, "HTTPS from anywhere", world4, world6, nil)
	if a.SSHFrom != nil {
		tcp(22, "SSH from the Jenkins build agent (deploy user key only)", nil, nil, a.SSHFrom)
	}
	if a.AppPortsFrom != nil {
		tcp(a.BluePort, "blue colour from the load balancer", nil, nil, a.AppPortsFrom)
		tcp(a.GreenPort, "green colour from the load balancer", nil, nil, a.AppPortsFrom)
	}
	egressDesc := "all outbound: packages, images, Lets Encrypt, SSM"
	descriptions = append(descriptions, egressDesc)
	r.egress = ec2.SecurityGroupEgressArray{ec2.SecurityGroupEgressArgs{
		Protocol: pulumi.String("-1"), FromPort: pulumi.Int(0), ToPort: pulumi.Int(0),
		CidrBlocks: pulumi.ToStringArray(world4), Ipv6CidrBlocks: pulumi.ToStringArray(world6),
		Description: pulumi.String(egressDesc),
	}}
	var errs []error
	for _, d := range descriptions {
		if !sgDescriptionRe.MatchString(d) {
			errs = append(errs, fmt.Errorf("security group description %q: EC2 accepts only a-zA-Z0-9. _-:/()#,@[]+=&;{}!$* (up to 255)", d))
		}
	}
	return r, errors.Join(errs...)
}

func optionalString(in pulumi.StringInput) pulumi.StringOutput {
	if in == nil {
		return pulumi.String("").ToStringOutput()
	}
	return in.ToStringOutput()
}

// allowALBSwitch lets the host's role move its own listener and read target health, nothing more.
// DescribeTargetHealth supports no resource-level permission, so it is granted on "*".
func allowALBSwitch(ctx *pulumi.Context, name string, role *iam.Role, listener pulumi.StringInput, parent pulumi.ResourceOption) error {
	policy := pulumi.Sprintf(`{"Version":"2012-10-17","Statement":[`+
		`{"Effect":"Allow","Action":"elasticloadbalancing:ModifyListener","Resource":"%s"},`+
		`{"Effect":"Allow","Action":["elasticloadbalancing:DescribeTargetHealth","elasticloadbalancing:DescribeListeners"],"Resource":"*"}]}`, listener)
	_, err := iam.NewRolePolicy(ctx, name+"-alb-switch", &iam.RolePolicyArgs{Role: role.ID(), Policy: policy}, parent)
	return err
}

func optionalPlainString(s string) pulumi.StringPtrInput {
	if s == "" {
		return nil
	}
	return pulumi.String(s)
}

// filesBucket is a host's own bucket and its SSH host key.
type filesBucket struct {
	tags    pulumi.StringMap
	bucket  *s3.BucketV2
	hostKey *tls.PrivateKey
	policy  *iam.RolePolicy
}

// newFilesBucket creates the host's private bucket, lets the host's role read its objects and nothing else, and
// makes the host key unless one is given. One bucket per host keeps a student's host from reading another's key
// with nothing but IAM resource ARNs. The bucket outlives instance replacements (its name does not depend on the
// user data). S3 encrypts every new object (SSE-S3) by default since January 2023.
func newFilesBucket(ctx *pulumi.Context, name string, a HostArgs, role *iam.Role, parent pulumi.ResourceOption) (*filesBucket, error) {
	f := &filesBucket{hostKey: a.HostKey}
	var err error
	if f.hostKey == nil {
		if f.hostKey, err = tls.NewPrivateKey(ctx, name+"-host-key", &tls.PrivateKeyArgs{Algorithm: pulumi.String("ED25519")}, parent); err != nil {
			return nil, err
		}
	}
	f.tags = pulumi.StringMap{"Name": pulumi.String(name + "-files")}
	for k, v := range a.Tags {
		f.tags[k] = pulumi.String(v)
	}
	// Bucket names allow neither _ nor upper case, which user names may hold.
	prefix := "deploylab-" + strings.ReplaceAll(strings.ToLower(name), "_", "-")
	if len(prefix) > 36 {
		prefix = prefix[:36]
	}
	f.bucket, err = s3.NewBucketV2(ctx, name+"-files", &s3.BucketV2Args{
		BucketPrefix: pulumi.String(prefix + "-"),
		ForceDestroy: pulumi.Bool(true), // holds only what the stack itself uploads and the certificate backup
		Tags:         f.tags,
	}, parent)
	if err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketPublicAccessBlock(ctx, name+"-files-private", &s3.BucketPublicAccessBlockArgs{
		Bucket: f.bucket.ID(), BlockPublicAcls: pulumi.Bool(true), BlockPublicPolicy: pulumi.Bool(true),
		IgnorePublicAcls: pulumi.Bool(true), RestrictPublicBuckets: pulumi.Bool(true),
	}, parent); err != nil {
		return nil, err
	}
	// Read its files; read and write its certificate backup (deploylab-certbot); list, so a missing backup is a
	// 404 and not a 403. Nothing else of the bucket, nothing of any other.
	f.policy, err = iam.NewRolePolicy(ctx, name+"-files", &iam.RolePolicyArgs{Role: role.ID(),
		Policy: pulumi.Sprintf(`{"Version":"2012-10-17","Statement":[`+
			`{"Effect":"Allow","Action":"s3:GetObject","Resource":["%[1]s/host/*","%[1]s/letsencrypt/*"]},`+
			`{"Effect":"Allow","Action":"s3:PutObject","Resource":"%[1]s/letsencrypt/*"},`+
			`{"Effect":"Allow","Action":"s3:ListBucket","Resource":"%[1]s"}]}`, f.bucket.Arn),
	}, parent)
	return f, err
}

// upload puts the files bundle and the host key into the bucket and returns what the instance must wait for.
func (f *filesBucket) upload(ctx *pulumi.Context, name string, bundle pulumi.StringOutput, parent pulumi.ResourceOption) ([]pulumi.Resource, error) {
	files, err := s3.NewBucketObjectv2(ctx, name+"-files", &s3.BucketObjectv2Args{
		Bucket: f.bucket.ID(), Key: pulumi.String(FilesObjectKey), ContentBase64: bundle,
		ContentType: pulumi.String("application/gzip"), Tags: f.tags,
	}, parent)
	if err != nil {
		return nil, err
	}
	key, err := s3.NewBucketObjectv2(ctx, name+"-host-key", &s3.BucketObjectv2Args{
		Bucket: f.bucket.ID(), Key: pulumi.String(HostKeyObjectKey),
		Content: pulumi.ToSecret(f.hostKey.PrivateKeyOpenssh).(pulumi.StringOutput), Tags: f.tags,
	}, parent)
	if err != nil {
		return nil, err
	}
	return []pulumi.Resource{files, key, f.policy}, nil
}

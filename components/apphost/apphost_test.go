package apphost

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"github.com/deploylab/deploylab/internal/testutil"
	"io"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"
)

// mocks stands in for AWS and the random provider. It records every resource's inputs and every SSM lookup, and
// answers like the providers would: random results are secret, instances get an address.
type mocks struct {
	mu        sync.Mutex
	resources []pulumi.MockResourceArgs
	lookups   []string
}

func mockPassword(name string) string { return "Pw" + strings.ReplaceAll(name, "-", "") + "X9" }

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	m.resources = append(m.resources, args)
	m.mu.Unlock()
	outs := args.Inputs.Copy()
	switch args.TypeToken {
	case "random:index/randomPassword:RandomPassword":
		outs["result"] = resource.MakeSecret(resource.NewStringProperty(mockPassword(args.Name)))
	case "random:index/randomString:RandomString":
		outs["result"] = resource.NewStringProperty(fmt.Sprintf("%016d", len(args.Name)))
	case "aws:ec2/instance:Instance":
		outs["publicIp"] = resource.NewStringProperty("203.0.113.10")
		outs["publicDns"] = resource.NewStringProperty("ec2-203-0-113-10.compute.amazonaws.com")
	case "aws:ec2/eip:Eip":
		outs["publicIp"] = resource.NewStringProperty("198.51.100.20")
		outs["publicDns"] = resource.NewStringProperty("ec2-198-51-100-20.compute.amazonaws.com")
	case "aws:s3/bucketV2:BucketV2":
		outs["arn"] = resource.NewStringProperty("arn:aws:s3:::" + args.Name + "-id")
	case "aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile":
		outs["name"] = resource.NewStringProperty(args.Name)
	}
	return args.Name + "-id", outs, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	if args.Token != "aws:ssm/getParameter:getParameter" {
		return nil, fmt.Errorf("unexpected call %s", args.Token)
	}
	name := args.Args["name"].StringValue()
	m.mu.Lock()
	m.lookups = append(m.lookups, name)
	m.mu.Unlock()
	return resource.PropertyMap{"name": resource.NewStringProperty(name), "type": resource.NewStringProperty("String"),
		"value": resource.NewStringProperty("ami-0123456789abcdef0")}, nil
}

func (m *mocks) byType(token string) []pulumi.MockResourceArgs {
	var out []pulumi.MockResourceArgs
	for _, r := range m.resources {
		if r.TypeToken == token {
			out = append(out, r)
		}
	}
	return out
}

type result struct {
	m                            *mocks
	publicIP, sshCommand, appURL string
	passwords                    map[string]string
	passwordsSecret              bool
}

// run creates a host with the mocks and collects its outputs; applies finish before RunErr returns.
func run(t *testing.T, args *HostArgs) (*result, error) {
	t.Helper()
	r := &result{m: &mocks{}}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		host, err := NewHost(ctx, "web", args)
		if err != nil {
			return err
		}
		pulumi.All(host.PublicIP, host.SSHCommand, host.AppURL).ApplyT(func(v []any) error {
			r.publicIP, r.sshCommand, r.appURL = v[0].(string), v[1].(string), v[2].(string)
			return nil
		})
		host.Passwords.ApplyT(func(p map[string]string) error { r.passwords = p; return nil })
		r.passwordsSecret = pulumi.IsSecret(host.Passwords)
		return nil
	}, pulumi.WithMocks("deploylab", "test", r.m))
	return r, err
}

func baseArgs() *HostArgs {
	return &HostArgs{
		SubnetID: pulumi.String("subnet-0abc"), VpcID: pulumi.String("vpc-0abc"),
		SSHPublicKeys: []string{adminKey}, AdminCidrs: []string{"198.51.100.0/24", "2001:db8::/32"},
		Tags: map[string]string{"env": "dev", "owner": "team", "managed-by": "deploylab"},
	}
}

func TestHostDefaults(t *testing.T) {
	t.Parallel()
	r, err := run(t, baseArgs())
	if err != nil {
		t.Fatal(err)
	}
	m := r.m

	if want := []string{"/aws/service/debian/release/12/latest/amd64"}; fmt.Sprint(m.lookups) != fmt.Sprint(want) {
		t.Errorf("SSM lookups = %v, want %v", m.lookups, want)
	}
	inst := m.byType("aws:ec2/instance:Instance")
	if len(inst) != 1 {
		t.Fatalf("%d instances", len(inst))
	}
	in := inst[0].Inputs
	md := in["metadataOptions"].ObjectValue()
	if md["httpTokens"].StringValue() != "required" || md["httpPutResponseHopLimit"].NumberValue() != 1 || md["httpEndpoint"].StringValue() != "enabled" {
		t.Errorf("metadataOptions = %v; want IMDSv2 required, hop limit 1", md)
	}
	root := in["rootBlockDevice"].ObjectValue()
	if !root["encrypted"].BoolValue() || root["volumeType"].StringValue() != "gp3" || root["volumeSize"].NumberValue() != 20 {
		t.Errorf("rootBlockDevice = %v; want encrypted gp3 20 GiB", root)
	}
	if in["ami"].StringValue() != "ami-0123456789abcdef0" || in["instanceType"].StringValue() != "t3.small" {
		t.Errorf("ami %v, type %v", in["ami"], in["instanceType"])
	}
	if !in["userDataReplaceOnChange"].BoolValue() {
		t.Error("userDataReplaceOnChange is not set")
	}
	userData := testutil.Unwrap(in["userData"]).StringValue()
	if !strings.HasPrefix(userData, "#cloud-config\n") || !strings.Contains(userData, adminKey) {
		t.Errorf("user data:\n%s", userData)
	}
	if len(m.byType("random:index/randomPassword:RandomPassword")) != 0 || len(r.passwords) != 0 || !r.passwordsSecret {
		t.Errorf("without password login: %d passwords, output %v (secret %v)", len(m.byType("random:index/randomPassword:RandomPassword")), r.passwords, r.passwordsSecret)
	}
	if len(m.byType("aws:ec2/eip:Eip")) != 0 || r.publicIP != "203.0.113.10" {
		t.Errorf("EIP without ElasticIP; public IP %q", r.publicIP)
	}
	if r.sshCommand != "ssh deploy@203.0.113.10" || r.appURL != "http://ec2-203-0-113-10.compute.amazonaws.com" {
		t.Errorf("ssh %q, url %q", r.sshCommand, r.appURL)
	}

	// Security group: exactly 22 from the admin CIDRs, 80 and 443 from anywhere, nothing else in.
	sgs := m.byType("aws:ec2/securityGroup:SecurityGroup")
	if len(sgs) != 1 {
		t.Fatalf("%d security groups", len(sgs))
	}
	var got []string
	for _, rule := range sgs[0].Inputs["ingress"].ArrayValue() {
		o := rule.ObjectValue()
		got = append(got, fmt.Sprintf("%s/%v-%v v4=%v v6=%v sg=%v", o["protocol"].StringValue(), o["fromPort"].NumberValue(), o["toPort"].NumberValue(),
			strs(o["cidrBlocks"]), strs(o["ipv6CidrBlocks"]), strs(o["securityGroups"])))
		if d := o["description"].StringValue(); d == "" || !sgDescriptionRe.MatchString(d) {
			t.Errorf("rule description %q: empty or refused by EC2", d)
		}
	}
	want := []string{
		"tcp/22-22 v4=[198.51.100.0/24] v6=[2001:db8::/32] sg=[]",
		"tcp/443-443 v4=[0.0.0.0/0] v6=[::/0] sg=[]",
		"tcp/80-80 v4=[0.0.0.0/0] v6=[::/0] sg=[]",
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ingress:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	eg := sgs[0].Inputs["egress"].ArrayValue()
	if len(eg) != 1 || eg[0].ObjectValue()["protocol"].StringValue() != "-1" {
		t.Errorf("egress = %v; want all", eg)
	}

	// Instance profile: the SSM policy on the role the profile carries.
	var arns []string
	for _, a := range m.byType("aws:iam/rolePolicyAttachment:RolePolicyAttachment") {
		arns = append(arns, a.Inputs["policyArn"].StringValue())
		if a.Inputs["role"].StringValue() != "web-role" {
			t.Errorf("policy on role %v", a.Inputs["role"])
		}
	}
	if fmt.Sprint(arns) != "[arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore]" {
		t.Errorf("policies = %v", arns)
	}
	if p := m.byType("aws:iam/instanceProfile:InstanceProfile"); len(p) != 1 || p[0].Inputs["role"].StringValue() != "web-role" ||
		in["iamInstanceProfile"].StringValue() != "web-profile" {
		t.Errorf("instance profile not wired: %v", in["iamInstanceProfile"])
	}
	role := m.byType("aws:iam/role:Role")[0].Inputs["assumeRolePolicy"].StringValue()
	if !strings.Contains(role, `"Service":"ec2.amazonaws.com"`) {
		t.Errorf("assume role policy %s", role)
	}

	// Tags on everything that takes them.
	for _, res := range m.resources {
		tags, ok := res.Inputs["tags"]
		if !ok {
			continue
		}
		tm := tags.ObjectValue()
		if tm["env"].StringValue() != "dev" || tm["owner"].StringValue() != "team" || tm["Name"].StringValue() == "" {
			t.Errorf("%s %s tags = %v", res.TypeToken, res.Name, tm)
		}
	}
	if _, ok := root["tags"]; !ok {
		t.Error("root volume is untagged")
	}
}

func strs(v resource.PropertyValue) []string {
	var out []string
	if v.IsArray() {
		for _, e := range v.ArrayValue() {
			out = append(out, e.StringValue())
		}
	}
	return out
}

// TestHostPasswords: a password per user that asked for one, only its hash in the user data (checked against the
// mock's password with the real mkpasswd), the passwords in a secret output, and stable salts.
func TestHostPasswords(t *testing.T) {
	t.Parallel()
	args := baseArgs()
	args.PasswordAuth = true
	args.ExtraUsers = []User{{Name: "alice", PasswordAuth: true}, {Name: "bob", SSHPublicKeys: []string{studentKey}}}
	args.DeployKey = pulumi.String(jenkinsKey)
	r, err := run(t, args)
	if err != nil {
		t.Fatal(err)
	}
	if !r.passwordsSecret {
		t.Error("Passwords output is not secret")
	}
	want := map[string]string{"deploy": mockPassword("web-password-deploy"), "alice": mockPassword("web-password-alice")}
	if fmt.Sprint(r.passwords) != fmt.Sprint(want) {
		t.Errorf("passwords = %v, want %v", r.passwords, want)
	}
	in := r.m.byType("aws:ec2/instance:Instance")[0].Inputs
	if !in["userData"].IsSecret() {
		t.Error("user data derived from the passwords is not kept secret in state")
	}
	userData := testutil.Unwrap(in["userData"]).StringValue()
	for _, pw := range want {
		if strings.Contains(userData, pw) {
			t.Fatalf("plain password %q is in the user data", pw)
		}
	}
	var doc struct {
		Users []struct {
			Name string   `yaml:"name"`
			Hash string   `yaml:"hashed_passwd"`
			Keys []string `yaml:"ssh_authorized_keys"`
		} `yaml:"users"`
	}
	if err := yaml.Unmarshal([]byte(userData), &doc); err != nil {
		t.Fatal(err)
	}
	for _, u := range doc.Users {
		pw, ok := want[u.Name]
		if !ok {
			if u.Hash != "" {
				t.Errorf("%s has a password hash", u.Name)
			}
			continue
		}
		m := regexp.MustCompile(`^\$6\$([^$]+)\$`).FindStringSubmatch(u.Hash)
		if m == nil {
			t.Fatalf("%s: hash %q is not SHA-512-crypt", u.Name, u.Hash)
		}
		cmd := exec.Command(mustTool(t, "mkpasswd", "/usr/bin/mkpasswd", "whois"), "--method=sha-512", "--salt="+m[1], "--stdin")
		cmd.Stdin = strings.NewReader(pw + "\n")
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != u.Hash {
			t.Errorf("%s: mkpasswd gives %q (%v), user data has %q", u.Name, out, err, u.Hash)
		}
		if u.Name == "deploy" && !contains(u.Keys, DeployKeyOptions+" "+jenkinsKey) {
			t.Errorf("deploy key not authorized (restricted) for the admin: %v", u.Keys)
		}
		if u.Name != "deploy" && strings.Contains(strings.Join(u.Keys, "\n"), jenkinsKey) {
			t.Errorf("deploy key authorized for %s", u.Name)
		}
	}
	salts := r.m.byType("random:index/randomString:RandomString")
	if len(salts) != 2 || len(r.m.byType("random:index/randomPassword:RandomPassword")) != 2 {
		t.Fatalf("%d salts", len(salts))
	}
	for _, s := range salts {
		if s.Inputs["special"].BoolValue() || s.Inputs["length"].NumberValue() != 16 || s.Inputs.HasValue("keepers") {
			t.Errorf("salt %s = %v; want 16 alphanumerics with no keepers (stable)", s.Name, s.Inputs)
		}
	}
	if !strings.Contains(userData, "Match User deploy,alice\n") || !strings.Contains(bundleFiles(t, r.m)["/etc/fail2ban/jail.d/deploylab-sshd.local"], "backend = systemd") {
		t.Error("password login without its Match block or fail2ban")
	}
}

// bundleFiles unpacks the files bundle the host uploaded, checking the user data pins its sha256.
func bundleFiles(t *testing.T, m *mocks) map[string]string {
	t.Helper()
	var archive []byte
	for _, o := range m.byType("aws:s3/bucketObjectv2:BucketObjectv2") {
		if o.Inputs["key"].StringValue() == FilesObjectKey {
			if o.Inputs["contentBase64"].IsSecret() {
				t.Error("the files bundle is secret: it holds no secret and must stay readable in plans")
			}
			b, err := base64.StdEncoding.DecodeString(testutil.Unwrap(o.Inputs["contentBase64"]).StringValue())
			if err != nil {
				t.Fatal(err)
			}
			archive = b
		}
	}
	sum := sha256.Sum256(archive)
	ud := testutil.Unwrap(m.byType("aws:ec2/instance:Instance")[0].Inputs["userData"]).StringValue()
	if !strings.Contains(ud, hex.EncodeToString(sum[:])) {
		t.Errorf("the user data does not pin the uploaded bundle's sha256 %x", sum)
	}
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		files["/"+strings.TrimSuffix(hdr.Name, "/")] = string(body)
	}
}

// TestHostFiles: the host's own private bucket holds its files and its host key; the role reads only that bucket;
// the host key is secret and never in the user data; the host waits for both objects.
func TestHostFiles(t *testing.T) {
	t.Parallel()
	r, err := run(t, baseArgs())
	if err != nil {
		t.Fatal(err)
	}
	m := r.m
	files := bundleFiles(t, m)
	for _, path := range []string{DeployScriptPath, DeployEnvPath, DockerDaemonPath, readyPath} {
		if files[path] == "" {
			t.Errorf("the bundle lacks %s", path)
		}
	}
	var key pulumi.MockResourceArgs
	for _, o := range m.byType("aws:s3/bucketObjectv2:BucketObjectv2") {
		if o.Inputs["bucket"].StringValue() != "web-files-id" {
			t.Errorf("object %s in bucket %v, want the host's own", o.Name, o.Inputs["bucket"])
		}
		if o.Inputs["key"].StringValue() == HostKeyObjectKey {
			key = o
		}
	}
	if !key.Inputs["content"].IsSecret() {
		t.Errorf("host key object %v: content not secret", key.Inputs)
	}
	if k := m.byType("tls:index/privateKey:PrivateKey"); len(k) != 1 || k[0].Inputs["algorithm"].StringValue() != "ED25519" {
		t.Errorf("host key = %v, want one ED25519 tls.PrivateKey", k)
	}
	pab := m.byType("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
	if len(pab) != 1 {
		t.Fatalf("%d public access blocks", len(pab))
	}
	for _, f := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
		if !pab[0].Inputs[resource.PropertyKey(f)].BoolValue() {
			t.Errorf("public access block %s is off", f)
		}
	}
	var policy string
	for _, p := range m.byType("aws:iam/rolePolicy:RolePolicy") {
		if p.Name == "web-files" {
			policy = p.Inputs["policy"].StringValue()
		}
	}
	for _, want := range []string{`"s3:GetObject","Resource":["arn:aws:s3:::web-files-id/host/*"`, `"s3:PutObject","Resource":"arn:aws:s3:::web-files-id/letsencrypt/*"`} {
		if !strings.Contains(policy, want) {
			t.Errorf("role policy lacks %s:\n%s", want, policy)
		}
	}
	inst := m.byType("aws:ec2/instance:Instance")[0]
	deps := fmt.Sprint(inst.RegisterRPC.GetDependencies())
	for _, name := range []string{"web-files", "web-host-key"} {
		if !strings.Contains(deps, "::"+name) {
			t.Errorf("the instance does not wait for %s: %s", name, deps)
		}
	}
	if inst.RegisterRPC.GetDeleteBeforeReplace() || len(m.byType("aws:ec2/subnetCidrReservation:SubnetCidrReservation")) != 0 {
		t.Error("without a fixed address: delete-before-replace or a reservation")
	}
	if ud := testutil.Unwrap(inst.Inputs["userData"]).StringValue(); strings.Contains(ud, "PRIVATE KEY") {
		t.Error("a private key reached the user data")
	}

	args := baseArgs()
	args.PrivateIP = "10.0.1.10"
	r, err = run(t, args)
	if err != nil {
		t.Fatal(err)
	}
	inst = r.m.byType("aws:ec2/instance:Instance")[0]
	res := r.m.byType("aws:ec2/subnetCidrReservation:SubnetCidrReservation")
	if len(res) != 1 || res[0].Inputs["cidrBlock"].StringValue() != "10.0.1.10/32" || res[0].Inputs["reservationType"].StringValue() != "explicit" ||
		res[0].Inputs["subnetId"].StringValue() != "subnet-0abc" {
		t.Errorf("reservation = %v, want an explicit 10.0.1.10/32 in the subnet", res)
	}
	if !inst.RegisterRPC.GetDeleteBeforeReplace() || inst.Inputs["privateIp"].StringValue() != "10.0.1.10" {
		t.Error("a fixed address without delete-before-replace: a replacement would fail with InvalidIPAddress.InUse")
	}
	if !strings.Contains(fmt.Sprint(inst.RegisterRPC.GetDependencies()), "::web-ip") {
		t.Error("the instance does not wait for its address reservation")
	}
}

func TestHostOptions(t *testing.T) {
	t.Parallel()
	args := baseArgs()
	args.ElasticIP = true
	args.AppPortsFrom = pulumi.String("sg-0alb")
	args.ExtraPolicyARNs = []pulumi.StringInput{pulumi.String("arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly")}
	args.Image = "ubuntu-24.04"
	args.InstanceType = "t4g.small"
	args.Domain, args.CertbotEmail = "app.example.com", "ops@example.com"
	r, err := run(t, args)
	if err != nil {
		t.Fatal(err)
	}
	if want := "/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id"; fmt.Sprint(r.m.lookups) != "["+want+"]" {
		t.Errorf("lookups %v, want %s", r.m.lookups, want)
	}
	if r.publicIP != "198.51.100.20" || r.sshCommand != "ssh deploy@198.51.100.20" || r.appURL != "https://app.example.com" {
		t.Errorf("ip %q ssh %q url %q", r.publicIP, r.sshCommand, r.appURL)
	}
	if e := r.m.byType("aws:ec2/eip:Eip"); len(e) != 1 || e[0].Inputs["instance"].StringValue() != "web-id" || e[0].Inputs["domain"].StringValue() != "vpc" {
		t.Errorf("eip = %v", e)
	}
	var app []string
	for _, rule := range r.m.byType("aws:ec2/securityGroup:SecurityGroup")[0].Inputs["ingress"].ArrayValue() {
		o := rule.ObjectValue()
		if sg := strs(o["securityGroups"]); len(sg) > 0 {
			if len(strs(o["cidrBlocks"])) > 0 || len(strs(o["ipv6CidrBlocks"])) > 0 {
				t.Errorf("app port rule also open to CIDRs: %v", o)
			}
			app = append(app, fmt.Sprintf("%v:%v", o["fromPort"].NumberValue(), sg))
		}
	}
	if fmt.Sprint(app) != "[8081:[sg-0alb] 8082:[sg-0alb]]" {
		t.Errorf("app port rules = %v", app)
	}
	var arns []string
	for _, a := range r.m.byType("aws:iam/rolePolicyAttachment:RolePolicyAttachment") {
		arns = append(arns, a.Inputs["policyArn"].StringValue())
	}
	sort.Strings(arns)
	if fmt.Sprint(arns) != "[arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore]" {
		t.Errorf("policies = %v", arns)
	}
}

// TestHostInvalid: bad arguments fail before any resource exists, with one line per problem naming the field.
func TestHostInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(a *HostArgs)
		want []string
	}{
		{"missing ids", func(a *HostArgs) { a.SubnetID, a.VpcID = nil, nil }, []string{"SubnetID is required", "VpcID is required"}},
		{"bad cidrs", func(a *HostArgs) { a.AdminCidrs = []string{"300.1.2.3/24", "0.0.0.0/0", "10.1.2.3/16", "::/0"} },
			[]string{`AdminCidrs[0]: "300.1.2.3/24" is not a CIDR (want e.g. 203.0.113.0/24)`, `AdminCidrs[1]: "0.0.0.0/0" opens SSH to the world`,
				`AdminCidrs[2]: "10.1.2.3/16" has host bits set (want 10.1.0.0/16)`, `AdminCidrs[3]: "::/0" opens SSH`}},
		{"ports", func(a *HostArgs) { a.BluePort, a.GreenPort, a.AppPort = 80, 80, 70000 },
			[]string{"AppPort 70000: want a port 1 to 65535", "BluePort 80: is taken", "BluePort and GreenPort are both 80"}},
		{"users", func(a *HostArgs) {
			a.AdminUser = "Root"
			a.SSHPublicKeys = []string{adminKey + "\nssh-ed25519 AAAA evil"}
			a.ExtraUsers = []User{{Name: "root", PasswordAuth: true}, {Name: "alice"}, {Name: "alice", PasswordAuth: true}}
		}, []string{`AdminUser "Root": want a Linux user name`, "AdminUser: SSHPublicKeys[0]:", `ExtraUsers[0].Name "root": is a system account`,
			`ExtraUsers[1] "alice": has no way to log in`, `ExtraUsers[2].Name "alice": already used by ExtraUsers[1].Name`}},
		{"domain without email", func(a *HostArgs) { a.Domain = "App.Example.com" },
			[]string{`Domain "App.Example.com": want a lowercase DNS name`, `CertbotEmail "": want an e-mail address`}},
		{"misc", func(a *HostArgs) {
			a.Image, a.InstanceType, a.VolumeSizeGiB, a.HealthPath, a.AppName = "centos", "huge", 4, "health", "My App"
		}, []string{`Image "centos": want one of debian-12, ubuntu-24.04`, `InstanceType "huge"`, "VolumeSizeGiB 4", `HealthPath "health"`, `AppName "My App"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := baseArgs()
			tc.edit(args)
			r, err := run(t, args)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if len(r.m.resources) != 0 {
				t.Errorf("%d resources created before the error", len(r.m.resources))
			}
		})
	}
	if _, err := run(t, nil); err == nil || !strings.Contains(err.Error(), "args are required") {
		t.Errorf("nil args: %v", err)
	}
}

// TestArch: the image looked up follows the instance type's architecture (components/internal/ec2arch), a1 too.
func TestArch(t *testing.T) {
	t.Parallel()
	for typ, want := range map[string]string{"t3.small": "amd64", "a1.large": "arm64", "m7gd.large": "arm64"} {
		args := baseArgs()
		args.InstanceType = typ
		r, err := run(t, args)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.m.lookups) != 1 || !strings.HasSuffix(r.m.lookups[0], "/"+want) {
			t.Errorf("%s: looked up %v, want the %s image", typ, r.m.lookups, want)
		}
	}
}

func TestDescriptionCheck(t *testing.T) {
	t.Parallel()
	if sgDescriptionRe.MatchString("Let's Encrypt") {
		t.Error("an apostrophe passed the EC2 description check")
	}
}

package awslimits

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// limitCase is one firing and one silent example of a rule: the inputs (and logical name) of a resource that the
// provider or the API refuses, and of one it accepts.
type limitCase struct {
	name, silentName string
	fire, silent     map[string]any
	want             string // part of the problem the firing case must report
}

func sgRule(desc string) map[string]any {
	return map[string]any{"protocol": "tcp", "fromPort": 22, "toPort": 22, "description": desc}
}

// cases has an entry for every row of Rules, keyed "type property"; TestEveryRuleHasCases enforces that.
var cases = map[string]limitCase{
	"aws:ec2/securityGroup:SecurityGroup description": {
		fire: map[string]any{"description": "to the app host's colour ports"}, silent: map[string]any{"description": "to the app host colour ports 8081/8082 (ALB)"}, want: `has "'"`},
	"aws:ec2/securityGroup:SecurityGroup ingress[].description": {
		fire: map[string]any{"ingress": []any{sgRule("SSH"), sgRule("Let's Encrypt")}}, silent: map[string]any{"ingress": []any{sgRule("HTTP from anywhere")}}, want: "ingress[1].description"},
	"aws:ec2/securityGroup:SecurityGroup egress[].description": {
		fire: map[string]any{"egress": []any{sgRule(strings.Repeat("a", 256))}}, silent: map[string]any{"egress": []any{sgRule(strings.Repeat("a", 255))}}, want: "256 characters, over 255"},
	"aws:ec2/securityGroup:SecurityGroup name": {
		fire: map[string]any{"name": "sg-web"}, silent: map[string]any{"name": "web-sg"}, want: "starts with sg-"},
	"aws:ec2/securityGroupRule:SecurityGroupRule description": {
		fire: map[string]any{"description": "caf\u00e9"}, silent: map[string]any{"description": "cafe"}, want: "which EC2 refuses"},
	"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule description": {
		fire: map[string]any{"description": `say "hi"`}, silent: map[string]any{"description": "say hi"}, want: "which EC2 refuses"},
	"aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule description": {
		fire: map[string]any{"description": "out <all>"}, silent: map[string]any{"description": "out {all}"}, want: "which EC2 refuses"},
	"aws:ec2/instance:Instance userData": {
		fire: map[string]any{"userData": strings.Repeat("x", UserDataLimit+1)}, silent: map[string]any{"userData": strings.Repeat("x", UserDataLimit)}, want: "16385 bytes"},
	"aws:ec2/instance:Instance userDataBase64": {
		fire:   map[string]any{"userDataBase64": base64.StdEncoding.EncodeToString(make([]byte, UserDataLimit+1))},
		silent: map[string]any{"userDataBase64": base64.StdEncoding.EncodeToString(make([]byte, UserDataLimit))}, want: "16385 bytes"},
	"aws:lb/loadBalancer:LoadBalancer name": {
		name: "deploylab-training-class-alb", silentName: "alb-alb", fire: map[string]any{}, silent: map[string]any{}, want: "over 32"},
	"aws:lb/targetGroup:TargetGroup name": {
		fire: map[string]any{"name": "blue_tg"}, silent: map[string]any{"name": "blue-tg"}, want: "alphanumerics and hyphens"},
	"aws:lb/targetGroup:TargetGroup port": {
		fire: map[string]any{"port": 70000}, silent: map[string]any{"port": 8081}, want: "outside 1-65535"},
	"aws:lb/targetGroup:TargetGroup deregistrationDelay": {
		fire: map[string]any{"deregistrationDelay": 3601}, silent: map[string]any{"deregistrationDelay": 30}, want: "outside 0-3600"},
	"aws:lb/targetGroup:TargetGroup healthCheck.path": {
		fire: map[string]any{"healthCheck": map[string]any{"path": "health"}}, silent: map[string]any{"healthCheck": map[string]any{"path": "/health"}}, want: "does not start with /"},
	"aws:lb/targetGroup:TargetGroup healthCheck.interval": {
		fire: map[string]any{"healthCheck": map[string]any{"interval": 4}}, silent: map[string]any{"healthCheck": map[string]any{"interval": 10}}, want: "outside 5-300"},
	"aws:lb/targetGroup:TargetGroup healthCheck.timeout": {
		fire: map[string]any{"healthCheck": map[string]any{"timeout": 1}}, silent: map[string]any{"healthCheck": map[string]any{"timeout": 5}}, want: "outside 2-120"},
	"aws:lb/targetGroup:TargetGroup healthCheck.healthyThreshold": {
		fire: map[string]any{"healthCheck": map[string]any{"healthyThreshold": 11}}, silent: map[string]any{"healthCheck": map[string]any{"healthyThreshold": 2}}, want: "outside 2-10"},
	"aws:lb/targetGroup:TargetGroup healthCheck.unhealthyThreshold": {
		fire: map[string]any{"healthCheck": map[string]any{"unhealthyThreshold": 1}}, silent: map[string]any{"healthCheck": map[string]any{"unhealthyThreshold": 10}}, want: "outside 2-10"},
	"aws:lb/listener:Listener port": {
		fire: map[string]any{"port": 0}, silent: map[string]any{"port": 443}, want: "outside 1-65535"},
	"aws:iam/role:Role name": {
		name: strings.Repeat("r", 57), silentName: strings.Repeat("r", 56), fire: map[string]any{}, silent: map[string]any{}, want: "65 characters, over 64"},
	"aws:iam/role:Role description": {
		fire: map[string]any{"description": strings.Repeat("d", 1001)}, silent: map[string]any{"description": "app host"}, want: "over 1000"},
	"aws:iam/instanceProfile:InstanceProfile name": {
		fire: map[string]any{"name": "app profile"}, silent: map[string]any{"name": "app-profile"}, want: "letters, digits"},
	"aws:iam/policy:Policy name": {
		fire: map[string]any{"name": strings.Repeat("p", 129)}, silent: map[string]any{"name": strings.Repeat("p", 128)}, want: "over 128"},
	"aws:iam/policy:Policy description": {
		fire: map[string]any{"description": strings.Repeat("d", 1001)}, silent: map[string]any{"description": "pull"}, want: "over 1000"},
	"aws:iam/rolePolicy:RolePolicy name": {
		fire: map[string]any{"name": "alb/switch"}, silent: map[string]any{"name": "alb-switch"}, want: "letters, digits"},
	"aws:ssm/parameter:Parameter name": {
		fire: map[string]any{"name": "/deploylab/dev/jenkins/admin password"}, silent: map[string]any{"name": "/deploylab/dev/jenkins/admin-password"}, want: "a-zA-Z0-9_.-/ only"},
	"aws:ssm/parameter:Parameter description": {
		fire: map[string]any{"description": strings.Repeat("d", 1025)}, silent: map[string]any{"description": "Jenkins admin password"}, want: "over 1024"},
	"aws:ecr/repository:Repository name": {
		name: "Jenkins-App", silentName: "jenkins-app", fire: map[string]any{}, silent: map[string]any{}, want: "lowercase"},
	"aws:s3/bucketV2:BucketV2 bucketPrefix": {
		fire: map[string]any{"bucketPrefix": "deploylab-student-ana_b-"}, silent: map[string]any{"bucketPrefix": "deploylab-student-ana-b-"}, want: "lowercase letters, digits"},
	"aws:* tags": {
		fire: map[string]any{"tags": map[string]any{"owner": "devops class (2026)"}}, silent: map[string]any{"tags": map[string]any{"owner": "devops-class", "expires-at": "2026-12-18T18:00:00+09:00"}}, want: `value of "owner"`},
}

func TestEveryRuleHasCases(t *testing.T) {
	t.Parallel()
	for _, r := range Rules {
		_, ok := cases[r.Type+" "+r.Property]
		require.True(t, ok, "rule %s %s has no firing/silent case", r.Type, r.Property)
		require.NotEmpty(t, r.Source, "rule %s %s names no source", r.Type, r.Property)
	}
	require.Len(t, cases, len(Rules))
}

// TestRules fires every rule with a refused value and keeps it silent with an accepted one.
func TestRules(t *testing.T) {
	t.Parallel()
	for key, c := range cases {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			typ, property, _ := strings.Cut(key, " ")
			if typ == "aws:*" {
				typ = "aws:iam/role:Role"
			}
			name, silentName := c.name, c.silentName
			if name == "" {
				name, silentName = "res", "res"
			}
			fired := Check(Resource{Type: typ, Name: name, Inputs: c.fire})
			require.NotEmpty(t, fired, "%s did not fire on %v", key, c.fire)
			msg := (&Error{Violations: fired}).Error()
			require.Contains(t, msg, c.want)
			require.Contains(t, msg, typ)
			require.Contains(t, msg, name)
			require.Contains(t, msg, strings.Split(property, "[")[0])
			require.Contains(t, msg, "source: ")
			require.Empty(t, Check(Resource{Type: typ, Name: silentName, Inputs: c.silent}), "%s fired on %v", key, c.silent)
		})
	}
}

func TestTagLimits(t *testing.T) {
	t.Parallel()
	many := map[string]any{}
	for i := 0; i < 51; i++ {
		many[strings.Repeat("k", i+1)] = "v"
	}
	for _, tc := range []struct {
		name, typ string
		tags      map[string]any
		want      string
	}{
		{"count", "aws:ec2/vpc:Vpc", many, "51 tags, over 50"},
		{"reserved key", "aws:ec2/vpc:Vpc", map[string]any{"aws:owner": "x"}, "reserved aws:"},
		{"long key", "aws:ec2/vpc:Vpc", map[string]any{strings.Repeat("k", 129): "x"}, "not 1-128"},
		{"long value", "aws:ec2/vpc:Vpc", map[string]any{"k": strings.Repeat("v", 257)}, "is 257 characters, over the 256 of a tag value"},
		{"EC2 takes any character", "aws:ec2/vpc:Vpc", map[string]any{"owner": "devops class (2026)"}, ""},
		{"so do EBS volumes", "aws:ebs/volume:Volume", map[string]any{"owner": "devops class (2026)"}, ""},
		{"IAM does not", "aws:iam/instanceProfile:InstanceProfile", map[string]any{"owner": "devops class (2026)"}, `value of "owner"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Check(Resource{Type: tc.typ, Name: "x", Inputs: map[string]any{"tags": tc.tags}})
			if tc.want == "" {
				require.Empty(t, got)
				return
			}
			require.Contains(t, (&Error{Violations: got}).Error(), tc.want)
		})
	}
}

// TestFixedAddressNeedsDeleteBeforeReplace: private_ip is ForceNew, so the default create-before-delete
// replacement would ask EC2 for an address the old instance still holds.
func TestFixedAddressNeedsDeleteBeforeReplace(t *testing.T) {
	t.Parallel()
	inputs := map[string]any{"privateIp": "10.0.0.10"}
	fired := Check(Resource{Type: "aws:ec2/instance:Instance", Name: "app", Inputs: inputs})
	require.Len(t, fired, 1)
	require.Contains(t, fired[0].String(), "InvalidIPAddress.InUse")
	require.Empty(t, Check(Resource{Type: "aws:ec2/instance:Instance", Name: "app", Inputs: inputs, DeleteBeforeReplace: true}))
	require.Empty(t, Check(Resource{Type: "aws:ec2/instance:Instance", Name: "app", Inputs: map[string]any{}}))
}

func TestUserDataValueIsNotPrinted(t *testing.T) {
	t.Parallel()
	secret := "hashed_passwd: $6$secret" + strings.Repeat("x", UserDataLimit)
	msg := (&Error{Violations: Check(Resource{Type: "aws:ec2/instance:Instance", Name: "app", Inputs: map[string]any{"userData": secret}})}).Error()
	require.NotContains(t, msg, "$6$secret")
	require.Contains(t, msg, "16408 bytes")
}

package plan

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/deploylab/deploylab/internal/stackfile"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/deploylab/deploylab/internal/awslimits"
	"github.com/deploylab/deploylab/internal/testutil"
)

// planFile plans a stack file on the mock engine.
func planFile(t testing.TB, path string) *Result {
	t.Helper()
	raw, _, err := stackfile.Read(path)
	require.NoError(t, err)
	res, err := Run(context.Background(), stackfile.StackName(path), raw)
	require.NoError(t, err)
	return res
}

func stackFiles(t *testing.T) []string {
	root := testutil.RepoRoot()
	stacks, _ := filepath.Glob(filepath.Join(root, "stacks", "Pulumi.*.yaml"))
	valid, _ := filepath.Glob(filepath.Join(root, "infra", "testdata", "valid-*.yaml"))
	require.Len(t, stacks, 3)
	return append(stacks, valid...)
}

// TestEveryStackPlansClean plans every stack file and valid fixture, and asserts the properties every stack must
// have whatever it enables: zero policy denies, IMDSv2 and encrypted volumes on every instance, nothing but
// 80/443 open to the world, env and owner tags on everything taggable, valid user data, and the reaper's outputs.
func TestEveryStackPlansClean(t *testing.T) {
	t.Parallel()
	for _, file := range stackFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			res := planFile(t, file)
			for _, f := range res.Findings {
				require.NotEqual(t, "deny", f.Level, "policy denies: %+v", f)
			}
			require.Equal(t, res.Config.Env, res.Outputs["env"])
			if res.Config.Env == "training" {
				require.Equal(t, res.Config.ExpiresAt, res.Outputs["expiresAt"])
			}
			for _, r := range res.Resources {
				assertSecureResource(t, r)
				if r.Custom && strings.HasPrefix(r.Type, "aws:") && takesTags(r) {
					tags, _ := r.Inputs["tags"].(map[string]any)
					require.Equal(t, res.Config.Env, tags["env"], "%s has no env tag", r.URN)
					require.Equal(t, res.Config.Owner, tags["owner"], "%s has no owner tag", r.URN)
				}
			}
			for _, r := range res.Resources {
				if r.Type == "aws:ec2/instance:Instance" {
					require.Positive(t, r.UserDataBytes, "%s: no user data size", r.Name)
					require.LessOrEqual(t, r.UserDataBytes, awslimits.UserDataBudget, "%s: user data over the 80%% budget", r.Name)
				}
			}
			for _, f := range res.Findings {
				require.NotEqual(t, "aws-default-quota", f.Policy, "one stack alone exceeds a default quota: %+v", f)
			}
			for name, ud := range res.UserData {
				for _, secret := range generatedSecrets(res) {
					require.NotContains(t, ud, secret, "%s: a generated password reached the user data", name)
				}
				testutil.CheckCloudInitSchema(t, ud)
			}
		})
	}
}

// generatedSecrets returns the values the mock engine gave every random password.
func generatedSecrets(res *Result) []string {
	var secrets []string
	for _, r := range res.Resources {
		if r.Type == "random:index/randomPassword:RandomPassword" {
			length, _ := r.Inputs["length"].(float64)
			secrets = append(secrets, MockRandom(r.Name, int(length)))
		}
	}
	return secrets
}

// takesTags lists the AWS types deploylab creates that carry tags.
func takesTags(r Resource) bool {
	switch r.Type {
	case "aws:ec2/routeTableAssociation:RouteTableAssociation", "aws:ec2/volumeAttachment:VolumeAttachment",
		"aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws:iam/rolePolicy:RolePolicy",
		"aws:lb/targetGroupAttachment:TargetGroupAttachment", "aws:ecr/lifecyclePolicy:LifecyclePolicy",
		"aws:ec2/eipAssociation:EipAssociation", "aws:ec2/securityGroupRule:SecurityGroupRule",
		"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
		"aws:ec2/mainRouteTableAssociation:MainRouteTableAssociation", "aws:ecr/repositoryPolicy:RepositoryPolicy",
		"aws:ec2/subnetCidrReservation:SubnetCidrReservation", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
		return false
	}
	return true
}

func assertSecureResource(t *testing.T, r Resource) {
	t.Helper()
	switch r.Type {
	case "aws:ec2/instance:Instance":
		meta, _ := r.Inputs["metadataOptions"].(map[string]any)
		require.Equal(t, "required", meta["httpTokens"], "%s: IMDSv2 not required", r.Name)
		root, _ := r.Inputs["rootBlockDevice"].(map[string]any)
		require.Equal(t, true, root["encrypted"], "%s: root volume not encrypted", r.Name)
	case "aws:ebs/volume:Volume":
		require.Equal(t, true, r.Inputs["encrypted"], "%s: volume not encrypted", r.Name)
	}
	for _, rule := range worldIngress(r) {
		require.Contains(t, []string{"80-80", "443-443"}, rule, "%s (%s) opens %s to the world", r.Name, r.Type, rule)
	}
}

// worldIngress returns the port ranges a security group resource opens to 0.0.0.0/0 or ::/0.
func worldIngress(r Resource) []string {
	var rules []map[string]any
	switch r.Type {
	case "aws:ec2/securityGroup:SecurityGroup":
		ingress, _ := r.Inputs["ingress"].([]any)
		for _, i := range ingress {
			rules = append(rules, i.(map[string]any))
		}
	case "aws:ec2/securityGroupRule:SecurityGroupRule":
		if r.Inputs["type"] == "ingress" {
			rules = append(rules, r.Inputs)
		}
	case "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
		in := r.Inputs
		rules = append(rules, map[string]any{"fromPort": in["fromPort"], "toPort": in["toPort"],
			"cidrBlocks": []any{in["cidrIpv4"]}, "ipv6CidrBlocks": []any{in["cidrIpv6"]}, "protocol": in["ipProtocol"]})
	}
	var open []string
	for _, rule := range rules {
		cidrs := append(asSlice(rule["cidrBlocks"]), asSlice(rule["ipv6CidrBlocks"])...)
		for _, c := range cidrs {
			if c == "0.0.0.0/0" || c == "::/0" {
				open = append(open, fmt.Sprintf("%v-%v", rule["fromPort"], rule["toPort"]))
				break
			}
		}
	}
	return open
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// TestClassOfThirty plans a class of 30 and checks every student gets their own host, user, security group
// and tag, and a row in the secret students table.
func TestClassOfThirty(t *testing.T) {
	t.Parallel()
	res := planClass(t, 30)
	hosts := map[string]bool{}
	groups := 0
	for _, r := range res.Resources {
		tags, _ := r.Inputs["tags"].(map[string]any)
		switch r.Type {
		case "aws:ec2/instance:Instance":
			student, _ := tags["student"].(string)
			require.NotEmpty(t, student, "%s has no student tag", r.Name)
			require.Contains(t, res.UserData[r.Name], "name: "+student)
			hosts[student] = true
		case "aws:ec2/securityGroup:SecurityGroup":
			require.NotEmpty(t, tags["student"])
			groups++
		}
	}
	require.Len(t, hosts, 30)
	require.Equal(t, 30, groups)
	require.Equal(t, stackfile.SecretPlaceholder, res.Outputs["students"], "the students table must be secret")
	table, _ := res.Outputs["studentHosts"].(map[string]any)
	require.Len(t, table, 30)
}

func planClass(t testing.TB, size int) *Result {
	t.Helper()
	students := make([]map[string]any, size)
	for i := range students {
		students[i] = map[string]any{"name": fmt.Sprintf("student%02d", i+1)}
	}
	classroom, _ := json.Marshal(map[string]any{"students": students})
	raw := map[string]string{
		"aws:region":           "ap-northeast-2",
		"deploylab:env":        "training",
		"deploylab:owner":      "devops-class",
		"deploylab:expiresAt":  "2026-12-18T18:00:00+09:00",
		"deploylab:adminCidrs": `["203.0.113.0/24"]`,
		"deploylab:appHost":    `{"passwordAuth": true, "adminUser": "teacher"}`,
		"deploylab:classroom":  string(classroom),
	}
	res, err := Run(context.Background(), "class", raw)
	require.NoError(t, err)
	return res
}

// TestPlanWritesFiles checks plan.json and the user data files, and that no secret reaches them.
func TestPlanWritesFiles(t *testing.T) {
	t.Parallel()
	res := planFile(t, filepath.Join(testutil.RepoRoot(), "stacks", "Pulumi.training.yaml"))
	dir := t.TempDir()
	require.NoError(t, res.WriteDir(dir))
	data, err := os.ReadFile(filepath.Join(dir, "plan.json"))
	require.NoError(t, err)
	for _, secret := range generatedSecrets(res) {
		require.NotContains(t, string(data), secret, "a generated secret reached plan.json")
	}
	var decoded struct {
		Resources []map[string]any `json:"resources"`
		Findings  []any            `json:"findings"`
		Quotas    []Quota          `json:"quotas"`
	}
	require.NoError(t, json.Unmarshal(data, &decoded))
	require.Equal(t, len(res.Resources), len(decoded.Resources))
	for _, r := range decoded.Resources {
		for _, option := range []string{"protect", "deleteBeforeReplace", "ignoreChanges"} {
			require.Contains(t, r, option, "%v has no %s in plan.json", r["urn"], option)
		}
	}
	require.NotEmpty(t, decoded.Quotas)
	files, _ := filepath.Glob(filepath.Join(dir, "userdata", "*.yaml"))
	require.Len(t, files, len(res.UserData))
	require.NotEmpty(t, files)
}

// BenchmarkPlanClass measures plan time by class size; the ratio per student should stay flat (linear growth).
func BenchmarkPlanClass(b *testing.B) {
	for _, size := range []int{1, 10, 30, 100} {
		b.Run(fmt.Sprintf("students=%d", size), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				planClass(b, size)
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/float64(size), "ms/student")
		})
	}
}

// TestPlanReportsPlaceholders: the prod example plans (exit 0) with one warning per placeholder key.
func TestPlanReportsPlaceholders(t *testing.T) {
	t.Parallel()
	res := planFile(t, filepath.Join(testutil.RepoRoot(), "stacks", "Pulumi.prod.yaml"))
	var keys []string
	for _, f := range res.Findings {
		if f.Policy == "placeholder-value" {
			require.Equal(t, "warn", f.Level)
			keys = append(keys, strings.SplitN(f.Message, ": ", 2)[0])
		}
	}
	require.ElementsMatch(t, []string{"deploylab:blueGreen.certificateArn", "deploylab:jenkins.domain", "deploylab:jenkins.certbotEmail"}, keys)
	require.False(t, res.Denied())
}

// TestTextOutput checks the text plan shows the user data sizes against EC2's limit and the quota counts.
func TestTextOutput(t *testing.T) {
	t.Parallel()
	res := planFile(t, filepath.Join(testutil.RepoRoot(), "stacks", "Pulumi.dev.yaml"))
	var out strings.Builder
	res.WriteText(&out)
	text := out.String()
	require.Contains(t, text, "User data as EC2 receives it (limit 16384 bytes; budget 80% = 13107)")
	for _, r := range res.Resources {
		if r.Type == "aws:ec2/instance:Instance" {
			require.Regexp(t, fmt.Sprintf(`(?m)^  %s +%d bytes `, r.Name, r.UserDataBytes), text)
		}
	}
	require.Regexp(t, `(?m)^  VPCs per region +1 \(\+1 default\) of 5$`, text)
	require.Regexp(t, `(?m)^  Elastic IP addresses per region +1 of 5$`, text)
	require.Contains(t, text, "stacks like this one fit in one account and region at the default quotas")
}

// TestQuotas fires and silences the quota warnings on counted resources.
func TestQuotas(t *testing.T) {
	t.Parallel()
	many := func(typ string, n int) []Resource {
		out := make([]Resource, n)
		for i := range out {
			out[i] = Resource{Type: typ, Custom: true, Inputs: map[string]any{}}
		}
		return out
	}
	cidrs := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = fmt.Sprintf("198.51.100.%d/32", i)
		}
		return out
	}
	group := func(n int) []Resource {
		return []Resource{{Type: "aws:ec2/securityGroup:SecurityGroup", Custom: true, Inputs: map[string]any{
			"ingress": []any{map[string]any{"cidrBlocks": cidrs(n)}}}}}
	}
	for _, tc := range []struct {
		name      string
		resources []Resource
		want      string // "" = no warning
		fits      int
	}{
		{"one VPC fits four stacks", many("aws:ec2/vpc:Vpc", 1), "", 4},
		{"five VPCs and the default one", many("aws:ec2/vpc:Vpc", 5), "VPCs per region: this stack needs 5 (plus 1 reserved) of the default 5", 0},
		{"two EIPs", many("aws:ec2/eip:Eip", 2), "", 2},
		{"six EIPs", many("aws:ec2/eip:Eip", 6), "Elastic IP addresses per region: this stack needs 6", 0},
		{"60 admin ranges", group(60), "", 2500},
		{"61 admin ranges", group(61), "Inbound rules per security group (largest group): this stack needs 61", 2500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			quotas := Quotas(tc.resources)
			findings := quotaFindings(quotas)
			fits, _ := StacksThatFit(quotas)
			require.Equal(t, tc.fits, fits)
			if tc.want == "" {
				require.Empty(t, findings)
				return
			}
			require.Len(t, findings, 1)
			require.Equal(t, "warn", findings[0].Level)
			require.Contains(t, findings[0].Message, tc.want)
		})
	}
}

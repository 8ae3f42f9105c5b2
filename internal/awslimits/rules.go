// Package awslimits holds the AWS provider's and the AWS APIs' own limits on the arguments deploylab sets, and
// checks every AWS resource against them while the program runs. A mock engine accepts any value; AWS does not,
// so without this a value the provider refuses passes `deploylab plan` and fails minutes into `pulumi up`.
//
// Each rule names the resource type, the argument (Pulumi's camelCase name, with [] for "every element"), the
// limit and where the limit comes from (a file of hashicorp/terraform-provider-aws, which pulumi-aws v6 wraps,
// or the AWS API reference for limits only the service enforces). docs/limits.md lists the same table.
package awslimits

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// EC2's user data limit, as EC2 receives it (before base64), and the share of it deploylab allows itself so
// that a stack has room to grow (a longer roster, another file) without hitting the limit.
const (
	UserDataLimit  = 16384
	UserDataBudget = UserDataLimit * 80 / 100 // 13,107 bytes
)

// Rule is one mirrored limit.
type Rule struct {
	// Type is the Pulumi type token, or "aws:*" for every AWS resource.
	Type string
	// Property is the argument, e.g. "description", "ingress[].description", "healthCheck.interval". "name" with
	// AutoName set means the name Pulumi generates from the logical name when the program sets none.
	Property string
	// Limit says in words what is accepted.
	Limit string
	// Source is the upstream file (terraform-provider-aws) or API reference the limit is copied from.
	Source string
	// AutoName: the argument is absent and Pulumi names the resource "<logical name>-<7 random characters>".
	AutoName bool
	// check returns what is wrong with a value, or "" when the value is accepted. Absent values are not checked.
	check func(v any) string
}

const (
	tfEC2SG       = "terraform-provider-aws internal/service/ec2/vpc_security_group.go (description: StringLenBetween(0, 255); rule description: validSecurityGroupRuleDescription)"
	tfEC2SGRule   = "terraform-provider-aws internal/service/vpc/security_group_ingress_rule.go and ec2/vpc_security_group_rule.go (description: validSecurityGroupRuleDescription)"
	apiSGCharset  = "; EC2 API reference CreateSecurityGroup GroupDescription and IpRange.Description: a-zA-Z0-9, spaces and ._-:/()#,@[]+=&;{}!$*, at most 255"
	tfInstance    = "terraform-provider-aws internal/service/ec2/ec2_instance.go (user_data: StringLenBetween(0, 16384); EC2 API reference RunInstances UserData: 16 KB before base64)"
	tfInstanceIP  = "terraform-provider-aws internal/service/ec2/ec2_instance.go (private_ip: ForceNew); Pulumi replaces create-before-delete by default, and EC2 refuses the second instance with InvalidIPAddress.InUse"
	tfLBName      = "terraform-provider-aws internal/service/elbv2/validate.go (validName: at most 32, alphanumerics and hyphens, no leading or trailing hyphen; load balancers: not starting with internal-); Pulumi autonames <logical name>-<7 characters>"
	tfTargetGroup = "terraform-provider-aws internal/service/elbv2/target_group.go"
	tfRole        = "terraform-provider-aws internal/service/iam/role.go (name: validResourceName(64); description: StringLenBetween(0, 1000))"
	tfIAMName128  = "terraform-provider-aws internal/service/iam/instance_profile.go, policy.go, role_policy.go (name: at most 128 of [\\w+=,.@-])"
	tfSSM         = "terraform-provider-aws internal/service/ssm/parameter.go (name: StringLenBetween(1, 2048); description: StringLenBetween(0, 1024)); SSM API reference PutParameter Name: a-zA-Z0-9_.-/, at most 15 levels"
	tfECR         = "terraform-provider-aws internal/service/ecr/repository.go (name: StringLenBetween(2, 256) and the repository-name pattern)"
	tfBucket      = "terraform-provider-aws internal/service/s3/bucket.go (bucket_prefix: at most 63 - id.UniqueIDSuffixLength (26) = 37; validBucketName: 3-63 of 0-9a-z.-); S3 API reference, bucket naming rules (all regions since 2018)"
	apiTags       = "AWS Tagging Best Practices / each service's TagResource reference: at most 50 tags, key 1-128 and value 0-256 UTF-8 characters, keys starting with aws: are reserved; outside EC2 only letters, digits, spaces and _.:/=+-@"
)

var (
	// sgDescription is EC2's character set for group and rule descriptions; an apostrophe is the usual victim.
	sgDescription = regexp.MustCompile(`^[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]*$`)
	lbName        = regexp.MustCompile(`^[a-zA-Z0-9-]+$`)
	iamName       = regexp.MustCompile(`^[\w+=,.@-]+$`)
	ssmName       = regexp.MustCompile(`^[a-zA-Z0-9_./-]+$`)
	ecrName       = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	bucketChars   = regexp.MustCompile(`^[0-9a-z.-]*$`)
	tagChars      = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

// Rules is the table of every mirrored limit, in the order docs/limits.md lists them.
var Rules = []Rule{
	{Type: "aws:ec2/securityGroup:SecurityGroup", Property: "description", Limit: "at most 255 characters of a-zA-Z0-9 ._-:/()#,@[]+=&;{}!$*", Source: tfEC2SG + apiSGCharset, check: sgText},
	{Type: "aws:ec2/securityGroup:SecurityGroup", Property: "ingress[].description", Limit: "at most 255 characters of a-zA-Z0-9 ._-:/()#,@[]+=&;{}!$*", Source: tfEC2SG + apiSGCharset, check: sgText},
	{Type: "aws:ec2/securityGroup:SecurityGroup", Property: "egress[].description", Limit: "at most 255 characters of a-zA-Z0-9 ._-:/()#,@[]+=&;{}!$*", Source: tfEC2SG + apiSGCharset, check: sgText},
	{Type: "aws:ec2/securityGroup:SecurityGroup", Property: "name", AutoName: true, Limit: "at most 255 characters, not starting with sg-", Source: tfEC2SG, check: all(maxLen(255), notPrefix("sg-"))},
	{Type: "aws:ec2/securityGroupRule:SecurityGroupRule", Property: "description", Limit: "at most 255 characters of a-zA-Z0-9 ._-:/()#,@[]+=&;{}!$*", Source: tfEC2SGRule + apiSGCharset, check: sgText},
	{Type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", Property: "description", Limit: "at most 255 characters of a-zA-Z0-9 ._-:/()#,@[]+=&;{}!$*", Source: tfEC2SGRule + apiSGCharset, check: sgText},
	{Type: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", Property: "description", Limit: "at most 255 characters of a-zA-Z0-9 ._-:/()#,@[]+=&;{}!$*", Source: tfEC2SGRule + apiSGCharset, check: sgText},
	{Type: "aws:ec2/instance:Instance", Property: "userData", Limit: fmt.Sprintf("at most %d bytes", UserDataLimit), Source: tfInstance, check: userData(false)},
	{Type: "aws:ec2/instance:Instance", Property: "userDataBase64", Limit: fmt.Sprintf("base64 of at most %d bytes", UserDataLimit), Source: tfInstance, check: userData(true)},
	{Type: "aws:lb/loadBalancer:LoadBalancer", Property: "name", AutoName: true, Limit: "at most 32 alphanumerics and hyphens, no hyphen first or last, not starting with internal-", Source: tfLBName, check: all(maxLen(32), match(lbName, "alphanumerics and hyphens only"), noEdgeHyphen, notPrefix("internal-"))},
	{Type: "aws:lb/targetGroup:TargetGroup", Property: "name", AutoName: true, Limit: "at most 32 alphanumerics and hyphens, no hyphen first or last", Source: tfLBName, check: all(maxLen(32), match(lbName, "alphanumerics and hyphens only"), noEdgeHyphen)},
	{Type: "aws:lb/targetGroup:TargetGroup", Property: "port", Limit: "1-65535", Source: tfTargetGroup + " (port: IntBetween(1, 65535))", check: between(1, 65535)},
	{Type: "aws:lb/targetGroup:TargetGroup", Property: "deregistrationDelay", Limit: "0-3600 seconds", Source: tfTargetGroup + " (deregistration_delay: 0-3600)", check: between(0, 3600)},
	{Type: "aws:lb/targetGroup:TargetGroup", Property: "healthCheck.path", Limit: "1-1024 characters starting with /", Source: tfTargetGroup + " (health_check.path: StringLenBetween(1, 1024), prefix /)", check: all(maxLen(1024), hasPrefix("/"))},
	{Type: "aws:lb/targetGroup:TargetGroup", Property: "healthCheck.interval", Limit: "5-300 seconds", Source: tfTargetGroup + " (health_check.interval: IntBetween(5, 300))", check: between(5, 300)},
	{Type: "aws:lb/targetGroup:TargetGroup", Property: "healthCheck.timeout", Limit: "2-120 seconds", Source: tfTargetGroup + " (health_check.timeout: IntBetween(2, 120))", check: between(2, 120)},
	{Type: "aws:lb/targetGroup:TargetGroup", Property: "healthCheck.healthyThreshold", Limit: "2-10", Source: tfTargetGroup + " (health_check.healthy_threshold: IntBetween(2, 10))", check: between(2, 10)},
	{Type: "aws:lb/targetGroup:TargetGroup", Property: "healthCheck.unhealthyThreshold", Limit: "2-10", Source: tfTargetGroup + " (health_check.unhealthy_threshold: IntBetween(2, 10))", check: between(2, 10)},
	{Type: "aws:lb/listener:Listener", Property: "port", Limit: "1-65535", Source: "terraform-provider-aws internal/service/elbv2/listener.go (port: IsPortNumber)", check: between(1, 65535)},
	{Type: "aws:iam/role:Role", Property: "name", AutoName: true, Limit: "at most 64 of letters, digits and +=,.@_-", Source: tfRole, check: all(maxLen(64), match(iamName, "letters, digits and +=,.@_- only"))},
	{Type: "aws:iam/role:Role", Property: "description", Limit: "at most 1000 characters", Source: tfRole, check: maxLen(1000)},
	{Type: "aws:iam/instanceProfile:InstanceProfile", Property: "name", AutoName: true, Limit: "at most 128 of letters, digits and +=,.@_-", Source: tfIAMName128, check: all(maxLen(128), match(iamName, "letters, digits and +=,.@_- only"))},
	{Type: "aws:iam/policy:Policy", Property: "name", AutoName: true, Limit: "at most 128 of letters, digits and +=,.@_-", Source: tfIAMName128, check: all(maxLen(128), match(iamName, "letters, digits and +=,.@_- only"))},
	{Type: "aws:iam/policy:Policy", Property: "description", Limit: "at most 1000 characters", Source: "terraform-provider-aws internal/service/iam/policy.go (description: StringLenBetween(0, 1000))", check: maxLen(1000)},
	{Type: "aws:iam/rolePolicy:RolePolicy", Property: "name", AutoName: true, Limit: "at most 128 of letters, digits and +=,.@_-", Source: tfIAMName128, check: all(maxLen(128), match(iamName, "letters, digits and +=,.@_- only"))},
	{Type: "aws:ssm/parameter:Parameter", Property: "name", Limit: "1-2048 characters of a-zA-Z0-9_.-/, at most 15 levels", Source: tfSSM, check: all(maxLen(2048), match(ssmName, "a-zA-Z0-9_.-/ only"), ssmLevels)},
	{Type: "aws:ssm/parameter:Parameter", Property: "description", Limit: "at most 1024 characters", Source: tfSSM, check: maxLen(1024)},
	{Type: "aws:ecr/repository:Repository", Property: "name", AutoName: true, Limit: "2-256 lowercase characters, components separated by / and joined by . _ -", Source: tfECR, check: all(maxLen(256), match(ecrName, "lowercase letters and digits in components joined by . _ - or /"))},
	{Type: "aws:s3/bucketV2:BucketV2", Property: "bucketPrefix", Limit: "at most 37 of lowercase letters, digits, . and -", Source: tfBucket, check: all(maxLen(37), match(bucketChars, "lowercase letters, digits, . and - only"))},
	{Type: "aws:*", Property: "tags", Limit: "at most 50 tags; key 1-128, value at most 256 characters; no aws: keys; outside EC2 letters, digits, spaces and _.:/=+-@ only", Source: apiTags, check: nil},
}

// describe renders a value for a message: strings quoted and shortened, user data by size only.
func describe(v any) string {
	s, ok := v.(string)
	if !ok {
		return fmt.Sprint(v)
	}
	if len(s) > 80 {
		return fmt.Sprintf("%q... (%d characters)", s[:60], utf8.RuneCountInString(s))
	}
	return fmt.Sprintf("%q", s)
}

func all(checks ...func(any) string) func(any) string {
	return func(v any) string {
		var out []string
		for _, c := range checks {
			if p := c(v); p != "" {
				out = append(out, p)
			}
		}
		return strings.Join(out, "; ")
	}
}

func maxLen(n int) func(any) string {
	return func(v any) string {
		if l := utf8.RuneCountInString(fmt.Sprint(v)); l > n {
			return fmt.Sprintf("%d characters, over %d", l, n)
		}
		return ""
	}
}

func match(re *regexp.Regexp, what string) func(any) string {
	return func(v any) string {
		if !re.MatchString(fmt.Sprint(v)) {
			return "has characters outside the accepted set (" + what + ")"
		}
		return ""
	}
}

func notPrefix(prefix string) func(any) string {
	return func(v any) string {
		if strings.HasPrefix(fmt.Sprint(v), prefix) {
			return "starts with " + prefix
		}
		return ""
	}
}

func hasPrefix(prefix string) func(any) string {
	return func(v any) string {
		if !strings.HasPrefix(fmt.Sprint(v), prefix) {
			return "does not start with " + prefix
		}
		return ""
	}
}

func noEdgeHyphen(v any) string {
	s := fmt.Sprint(v)
	if strings.HasPrefix(s, "-") || strings.HasSuffix(s, "-") {
		return "starts or ends with a hyphen"
	}
	return ""
}

func between(lo, hi float64) func(any) string {
	return func(v any) string {
		n, ok := number(v)
		if !ok {
			return ""
		}
		if n < lo || n > hi {
			return fmt.Sprintf("%v is outside %v-%v", v, lo, hi)
		}
		return ""
	}
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func sgText(v any) string {
	s := fmt.Sprint(v)
	var out []string
	if len(s) > 255 {
		out = append(out, fmt.Sprintf("%d characters, over 255", len(s)))
	}
	if !sgDescription.MatchString(s) {
		var bad []string
		for _, r := range s {
			if !sgDescription.MatchString(string(r)) && !strings.Contains(strings.Join(bad, ""), string(r)) {
				bad = append(bad, string(r))
			}
		}
		out = append(out, fmt.Sprintf("has %q, which EC2 refuses", strings.Join(bad, "")))
	}
	return strings.Join(out, "; ")
}

func ssmLevels(v any) string {
	if levels := strings.Count(strings.TrimPrefix(fmt.Sprint(v), "/"), "/") + 1; levels > 15 {
		return fmt.Sprintf("%d levels, over 15", levels)
	}
	return ""
}

// UserDataSize is the size of an instance's user data as EC2 receives it: the text itself, or what the base64
// of userDataBase64 decodes to (gzip stays compressed: cloud-init unpacks it on the host).
func UserDataSize(text string, base64Encoded bool) (int, error) {
	if !base64Encoded {
		return len(text), nil
	}
	data, err := base64.StdEncoding.DecodeString(text)
	return len(data), err
}

func userData(encoded bool) func(any) string {
	return func(v any) string {
		s, ok := v.(string)
		if !ok {
			return ""
		}
		n, err := UserDataSize(s, encoded)
		if err != nil {
			return "is not base64: " + err.Error()
		}
		if n > UserDataLimit {
			return fmt.Sprintf("%d bytes as EC2 receives them, over EC2's %d (deploylab's budget is %d, 80%%)", n, UserDataLimit, UserDataBudget)
		}
		return ""
	}
}

// TagValue says what is wrong with a tag value that every service must accept (IAM, ELB and SSM refuse what
// EC2 takes), or returns "". The config uses it for values it puts on every resource, such as the owner.
func TagValue(value string) string {
	switch {
	case utf8.RuneCountInString(value) > 256:
		return fmt.Sprintf("is %d characters, over the 256 of a tag value", utf8.RuneCountInString(value))
	case !tagChars.MatchString(value):
		return "has characters AWS refuses in tags outside EC2 (allowed: letters, digits, spaces and _.:/=+-@)"
	}
	return ""
}

// checkTags holds the tag limits; they differ between EC2 (any UTF-8) and every other service.
func checkTags(typ string, v any) []string {
	tags, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	var out []string
	if len(tags) > 50 {
		out = append(out, fmt.Sprintf("%d tags, over 50", len(tags)))
	}
	strictChars := true
	for _, ec2API := range []string{"aws:ec2/", "aws:ebs/", "aws:vpc/"} { // served by the EC2 API
		if strings.HasPrefix(typ, ec2API) {
			strictChars = false
		}
	}
	for _, k := range sortedKeys(tags) {
		value := fmt.Sprint(tags[k])
		switch {
		case k == "" || utf8.RuneCountInString(k) > 128:
			out = append(out, fmt.Sprintf("key %q is not 1-128 characters", k))
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			out = append(out, fmt.Sprintf("key %q starts with the reserved aws:", k))
		case strictChars && !tagChars.MatchString(k):
			out = append(out, fmt.Sprintf("key %q has characters outside letters, digits, spaces and _.:/=+-@", k))
		}
		problem := TagValue(value)
		if !strictChars && utf8.RuneCountInString(value) <= 256 {
			problem = "" // EC2 takes any character
		}
		if problem != "" {
			out = append(out, fmt.Sprintf("value of %q (%s) %s", k, describe(value), problem))
		}
	}
	return out
}

// Table renders Rules as the Markdown table docs/limits.md carries (kept equal by a test).
func Table() string {
	var b strings.Builder
	b.WriteString("| resource type | argument | accepted | source |\n|---|---|---|---|\n")
	for _, r := range Rules {
		property := r.Property
		if r.AutoName {
			property += " (autonamed)"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", r.Type, property, strings.ReplaceAll(r.Limit, "|", `\|`), strings.ReplaceAll(r.Source, "|", `\|`))
	}
	return b.String()
}

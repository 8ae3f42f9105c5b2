package plan

import (
	"fmt"

	"github.com/deploylab/deploylab/internal/policy"
)

// Quota is one AWS default quota the stack draws on, and how much of it this stack alone uses. The offline plan
// cannot see the other stacks of the account, so it says how many stacks like this one fit: several training
// stacks in one account and region hit VpcLimitExceeded or AddressLimitExceeded long before anything else.
type Quota struct {
	What    string `json:"what"`
	Used    int    `json:"used"`
	Default int    `json:"default"`
	// Reserved is taken before any stack: the region's default VPC counts against the VPC quota.
	Reserved int `json:"reserved,omitempty"`
	// PerStack quotas are per region or account, shared by every stack there; the others apply per resource
	// (rules per security group) and do not add up across stacks.
	PerStack bool   `json:"perStack"`
	Source   string `json:"source"`
}

// Fits is how many stacks like this one fit in the default quota (-1: unlimited, the stack uses none).
func (q Quota) Fits() int {
	if q.Used == 0 || !q.PerStack {
		return -1
	}
	return (q.Default - q.Reserved) / q.Used
}

// Over reports whether this stack alone needs more than the default.
func (q Quota) Over() bool { return q.Used+q.Reserved > q.Default }

const (
	vpcQuotas = "Amazon VPC User Guide, Amazon VPC quotas"
	ec2Quotas = "Amazon EC2 User Guide, Elastic IP address quota"
	elbQuotas = "Elastic Load Balancing User Guide, Quotas for your Application Load Balancers"
	iamQuotas = "IAM User Guide, IAM and AWS STS quotas"
)

// Quotas counts what the planned resources draw from each default quota.
func Quotas(resources []Resource) []Quota {
	count := map[string]int{}
	maxIn, maxOut := 0, 0
	for _, r := range resources {
		if !r.Custom {
			continue
		}
		count[r.Type]++
		if r.Type == "aws:ec2/securityGroup:SecurityGroup" {
			maxIn = max(maxIn, ruleCount(r.Inputs["ingress"]))
			maxOut = max(maxOut, ruleCount(r.Inputs["egress"]))
		}
	}
	return []Quota{
		{What: "VPCs per region", Used: count["aws:ec2/vpc:Vpc"], Default: 5, Reserved: 1, PerStack: true, Source: vpcQuotas + " (VPCs per Region: 5; the default VPC is one)"},
		{What: "Elastic IP addresses per region", Used: count["aws:ec2/eip:Eip"], Default: 5, PerStack: true, Source: ec2Quotas + " (5 per Region)"},
		{What: "Internet gateways per region", Used: count["aws:ec2/internetGateway:InternetGateway"], Default: 5, Reserved: 1, PerStack: true, Source: vpcQuotas + " (Internet gateways per Region: 5, one per VPC)"},
		{What: "Application Load Balancers per region", Used: count["aws:lb/loadBalancer:LoadBalancer"], Default: 50, PerStack: true, Source: elbQuotas + " (50 per Region)"},
		{What: "Target groups per region", Used: count["aws:lb/targetGroup:TargetGroup"], Default: 3000, PerStack: true, Source: elbQuotas + " (3000 per Region)"},
		{What: "Security groups per region", Used: count["aws:ec2/securityGroup:SecurityGroup"], Default: 2500, PerStack: true, Source: vpcQuotas + " (VPC security groups per Region: 2500)"},
		{What: "IAM roles per account", Used: count["aws:iam/role:Role"], Default: 1000, PerStack: true, Source: iamQuotas + " (roles per account: 1000)"},
		{What: "Inbound rules per security group (largest group)", Used: maxIn, Default: 60, Source: vpcQuotas + " (60 inbound and 60 outbound rules per group, IPv4 and IPv6 counted apart; each CIDR or group is a rule)"},
		{What: "Outbound rules per security group (largest group)", Used: maxOut, Default: 60, Source: vpcQuotas + " (60 inbound and 60 outbound rules per group, IPv4 and IPv6 counted apart)"},
	}
}

// ruleCount is the larger of a group's IPv4 and IPv6 rule counts: each CIDR block and each source group of an
// inline rule is one rule of the quota.
func ruleCount(v any) int {
	rules, _ := v.([]any)
	v4, v6 := 0, 0
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		v4 += length(rule["cidrBlocks"]) + length(rule["securityGroups"]) + length(rule["prefixListIds"])
		if self, _ := rule["self"].(bool); self {
			v4++
		}
		v6 += length(rule["ipv6CidrBlocks"])
	}
	return max(v4, v6)
}

func length(v any) int {
	list, _ := v.([]any)
	return len(list)
}

// quotaFindings warns where this stack alone needs more than a default quota.
func quotaFindings(quotas []Quota) []policy.Finding {
	var out []policy.Finding
	for _, q := range quotas {
		if q.Over() {
			out = append(out, policy.Finding{Policy: "aws-default-quota", Level: policy.LevelWarn, Type: "pulumi:pulumi:Stack",
				Message: fmt.Sprintf("%s: this stack needs %d (plus %d reserved) of the default %d; ask for an increase in Service Quotas before `pulumi up` (%s)", q.What, q.Used, q.Reserved, q.Default, q.Source)})
		}
	}
	return out
}

// StacksThatFit is how many stacks like this one the default quotas allow in one account and region, and the
// quota that limits it (-1 and "" when nothing region-wide is used).
func StacksThatFit(quotas []Quota) (int, string) {
	best, by := -1, ""
	for _, q := range quotas {
		if n := q.Fits(); n >= 0 && (best < 0 || n < best) {
			best, by = n, q.What
		}
	}
	return best, by
}

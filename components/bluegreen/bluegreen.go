// Package bluegreen puts an Application Load Balancer in front of the app host with one target group per colour
// (blue on BluePort, green on GreenPort) and a listener that forwards to the active colour by weight.
//
// Who owns the weights: Pulumi sets them once, when the listener is created (ActiveColor: 100, the other: 0).
// After that they belong to scripts/deploy.sh (SWITCH=alb), which moves them with `aws elbv2 modify-listener` on the
// listener whose ARN the stack exports, once `describe-target-health` reports the new colour healthy. Pulumi
// therefore ignores changes to the forwarding listener's defaultActions: otherwise the next `pulumi up --refresh`
// (or any update of the listener) would move traffic back to the colour in the stack config, i.e. to a colour whose
// container deploy.sh has already stopped. Changing ActiveColor in the stack config after creation does nothing;
// to move traffic, run deploy.sh.
//
// Consequences of that choice, and what to do:
//   - A replaced target group (a changed BluePort/GreenPort forces one) is not picked up by the listener, and the
//     old group cannot be deleted while the listener still points at it. Pulumi applies ignoreChanges on replacement
//     too, so `--replace` does not help: run `pulumi destroy --target <forwarding listener URN>` and then
//     `pulumi up`, which creates the listener afresh (ActiveColor gets 100) — a short outage, so do it in a window.
//   - The same holds when CertificateArn is removed: the HTTP listener would keep redirecting. Adding a certificate
//     is safe: the HTTP listener then carries no ignoreChanges and is updated to the redirect.
//   - We ignore the whole defaultActions, not just the weights: the provider models forward.targetGroups as a set,
//     so after a refresh an index-based path like targetGroups[0].weight may name the other colour, and
//     pulumi/pulumi-aws#5772 reports a target group added under an ignored weight landing with weight 1 instead of
//     0. deploy.sh must send a forward action listing both target groups with explicit weights (100/0), never the
//     single targetGroupArn shorthand: both in one action conflict unless they name the same single group.
package bluegreen

import (
	"errors"
	"fmt"
	"github.com/deploylab/deploylab/components/internal/awstags"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Colours, in the order every per-colour resource is created and listed.
const (
	Blue  = "blue"
	Green = "green"
)

// Colors is every colour a target group exists for.
var Colors = []string{Blue, Green}

// TLSPolicy is the HTTPS listener's security policy: TLS 1.3 preferred, TLS 1.2 with forward-secret ciphers accepted.
const TLSPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06"

// Health check timing. deploy.sh waits for `describe-target-health` to say healthy before it switches, so a new
// colour becomes switchable after HealthyThreshold×Interval = 20 s; a broken one is out after 20 s as well. The
// timeout stays below the interval, as AWS requires.
const (
	healthInterval           = 10
	healthTimeout            = 5
	healthyThreshold         = 2
	unhealthyThreshold       = 2
	healthMatcher            = "200" // Spring Boot's /actuator/health answers 200 when UP and 503 when DOWN
	deregistrationDelaySecs  = 30
	activeWeight, idleWeight = 100, 0
)

// BlueGreenArgs configures NewBlueGreen.
type BlueGreenArgs struct {
	// VpcID is the VPC the ALB and its target groups live in. Required.
	VpcID pulumi.StringInput
	// SubnetIDs are the ALB's subnets: two public subnets in two different AZs. Required.
	SubnetIDs pulumi.StringArrayInput
	// BluePort is the host port of the blue colour. Optional, default 8081.
	BluePort int
	// GreenPort is the host port of the green colour; must differ from BluePort. Optional, default 8082.
	GreenPort int
	// HealthPath is the path the target groups health-check; it must start with "/". Optional, default
	// /actuator/health.
	HealthPath string
	// ActiveColor is the colour the listener forwards to when it is created: blue or green. Optional, default blue.
	// Ignored after creation: deploy.sh owns the weights (see the package comment).
	ActiveColor string
	// CertificateArn is an ACM (or IAM server) certificate ARN. Optional, default none. When set, an HTTPS:443
	// listener with TLSPolicy forwards and HTTP:80 redirects to it with a 301; when empty, HTTP:80 forwards.
	CertificateArn string
	// AccessLogsBucket is the S3 bucket (name, not ARN) the ALB writes access logs to, under the prefix
	// <component name>. The bucket policy must let the region's ELB account write. Optional, default no logs.
	AccessLogsBucket string
	// DeletionProtection stops the ALB from being deleted by API (and so by `pulumi destroy`). Optional, default
	// false; the stack turns it on in prod.
	DeletionProtection bool
	// Tags are added to every resource next to the Name tag (deploylab passes env, owner, expires-at and
	// managed-by). Optional, default none.
	Tags map[string]string
}

// BlueGreen is the component NewBlueGreen returns.
type BlueGreen struct {
	pulumi.ResourceState

	// DNSName is the ALB's DNS name (point the domain's CNAME/alias here).
	DNSName pulumi.StringOutput
	// ListenerArn is the forwarding listener (HTTPS with a certificate, else HTTP): the one deploy.sh modifies and
	// the only listener the app host's instance profile may modify.
	ListenerArn pulumi.StringOutput
	// TargetGroupArns are keyed "blue" and "green".
	TargetGroupArns map[string]pulumi.StringOutput
	// SecurityGroupID is the ALB's security group. The app host's security group should allow Ports from this group
	// only.
	SecurityGroupID pulumi.IDOutput
	// Ports are the colour ports after defaults, keyed "blue" and "green": the ports the app host's security group
	// opens to SecurityGroupID.
	Ports map[string]int

	name string
}

// Attach registers the app host in both target groups, each on its colour's port. It is a step of its own
// because the host is created after the ALB: the host's deploy.env names the listener and target groups, and
// its security group admits the ALB's.
func (bg *BlueGreen) Attach(ctx *pulumi.Context, instanceID pulumi.StringInput) error {
	for _, color := range []string{"blue", "green"} {
		if _, err := lb.NewTargetGroupAttachment(ctx, bg.name+"-"+color+"-host", &lb.TargetGroupAttachmentArgs{
			TargetGroupArn: bg.TargetGroupArns[color],
			TargetId:       instanceID,
			Port:           pulumi.Int(bg.Ports[color]),
		}, pulumi.Parent(bg)); err != nil {
			return err
		}
	}
	return nil
}

// NewBlueGreen creates the ALB, its security group, the blue and green target groups with the instance attached,
// and the listeners.
func NewBlueGreen(ctx *pulumi.Context, name string, args *BlueGreenArgs, opts ...pulumi.ResourceOption) (*BlueGreen, error) {
	if args == nil {
		return nil, fmt.Errorf("bluegreen %q: args are required (got nil)", name)
	}
	a := withDefaults(*args)
	if err := validate(a); err != nil {
		return nil, fmt.Errorf("bluegreen %q: %w", name, err)
	}
	ports := map[string]int{Blue: a.BluePort, Green: a.GreenPort}

	bg := &BlueGreen{Ports: ports, TargetGroupArns: map[string]pulumi.StringOutput{}, name: name}
	if err := ctx.RegisterComponentResource("deploylab:components:BlueGreen", name, bg, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(bg)

	sg, err := newSecurityGroup(ctx, name, a, parent)
	if err != nil {
		return nil, err
	}

	albArgs := &lb.LoadBalancerArgs{
		LoadBalancerType: pulumi.String("application"),
		Internal:         pulumi.Bool(false),
		SecurityGroups:   pulumi.StringArray{sg.ID().ToStringOutput()},
		Subnets:          a.SubnetIDs,
		// Requests with header names that are not valid HTTP are dropped at the ALB instead of reaching nginx/the
		// app, closing a request-smuggling and header-injection path.
		DropInvalidHeaderFields: pulumi.Bool(true),
		// strictest: only RFC 7230-compliant requests pass; ambiguous ones (the HTTP desync class) are refused
		// rather than forwarded. The app is ours, so no legacy client needs the laxer modes.
		DesyncMitigationMode:     pulumi.String("strictest"),
		EnableDeletionProtection: pulumi.Bool(a.DeletionProtection),
		Tags:                     awstags.Named(a.Tags, name+"-alb"),
	}
	if a.AccessLogsBucket != "" {
		albArgs.AccessLogs = lb.LoadBalancerAccessLogsArgs{
			Bucket:  pulumi.String(a.AccessLogsBucket),
			Enabled: pulumi.Bool(true),
			Prefix:  pulumi.String(name),
		}
	}
	// In prod the ALB is protected as well as deletion-protected: `pulumi destroy` stops before asking AWS.
	alb, err := lb.NewLoadBalancer(ctx, name+"-alb", albArgs, parent, pulumi.Protect(a.DeletionProtection))
	if err != nil {
		return nil, err
	}

	forwards := lb.ListenerDefaultActionForwardTargetGroupArray{}
	for _, color := range Colors {
		tg, err := lb.NewTargetGroup(ctx, name+"-"+color, &lb.TargetGroupArgs{
			VpcId:      a.VpcID,
			TargetType: pulumi.String("instance"),
			Protocol:   pulumi.String("HTTP"),
			Port:       pulumi.Int(ports[color]),
			// 30 s instead of AWS's 300 s: longer than any request the app serves and the same order as deploy.sh's
			// drain, so in-flight requests finish when a target is deregistered, while `pulumi up` replacing the
			// host or the group does not wait five minutes. Colour switches do not deregister (both colours stay
			// registered; only the weights move), so this delay never slows a deploy.
			DeregistrationDelay: pulumi.Int(deregistrationDelaySecs),
			// Between deploys the idle colour's container is stopped, so its group reports unhealthy: expected, its
			// weight is 0.
			HealthCheck: lb.TargetGroupHealthCheckArgs{
				Enabled:            pulumi.Bool(true),
				Protocol:           pulumi.String("HTTP"),
				Port:               pulumi.String("traffic-port"),
				Path:               pulumi.String(a.HealthPath),
				Matcher:            pulumi.String(healthMatcher),
				Interval:           pulumi.Int(healthInterval),
				Timeout:            pulumi.Int(healthTimeout),
				HealthyThreshold:   pulumi.Int(healthyThreshold),
				UnhealthyThreshold: pulumi.Int(unhealthyThreshold),
			},
			Tags: awstags.Named(a.Tags, name+"-"+color),
		}, parent)
		if err != nil {
			return nil, err
		}
		weight := idleWeight
		if color == a.ActiveColor {
			weight = activeWeight
		}
		forwards = append(forwards, lb.ListenerDefaultActionForwardTargetGroupArgs{Arn: tg.Arn, Weight: pulumi.Int(weight)})
		bg.TargetGroupArns[color] = tg.Arn
	}

	// Only forward.targetGroups, never targetGroupArn as well: the two together are only valid for a single group.
	forward := lb.ListenerDefaultActionArray{lb.ListenerDefaultActionArgs{
		Type:    pulumi.String("forward"),
		Forward: lb.ListenerDefaultActionForwardArgs{TargetGroups: forwards},
	}}
	// deploy.sh owns the weights after creation; see the package comment for why and for the caveats.
	ownedByDeploy := pulumi.IgnoreChanges([]string{"defaultActions"})

	var listener *lb.Listener
	if a.CertificateArn != "" {
		listener, err = lb.NewListener(ctx, name+"-https", &lb.ListenerArgs{
			LoadBalancerArn: alb.Arn,
			Port:            pulumi.Int(443),
			Protocol:        pulumi.String("HTTPS"),
			SslPolicy:       pulumi.String(TLSPolicy),
			CertificateArn:  pulumi.String(a.CertificateArn),
			DefaultActions:  forward,
			Tags:            awstags.Named(a.Tags, name+"-https"),
		}, parent, ownedByDeploy)
		if err != nil {
			return nil, err
		}
		if _, err := lb.NewListener(ctx, name+"-http", &lb.ListenerArgs{
			LoadBalancerArn: alb.Arn,
			Port:            pulumi.Int(80),
			Protocol:        pulumi.String("HTTP"),
			DefaultActions: lb.ListenerDefaultActionArray{lb.ListenerDefaultActionArgs{
				Type: pulumi.String("redirect"),
				Redirect: lb.ListenerDefaultActionRedirectArgs{
					Protocol:   pulumi.String("HTTPS"),
					Port:       pulumi.String("443"),
					StatusCode: pulumi.String("HTTP_301"),
				},
			}},
			Tags: awstags.Named(a.Tags, name+"-http"),
		}, parent); err != nil {
			return nil, err
		}
	} else {
		listener, err = lb.NewListener(ctx, name+"-http", &lb.ListenerArgs{
			LoadBalancerArn: alb.Arn,
			Port:            pulumi.Int(80),
			Protocol:        pulumi.String("HTTP"),
			DefaultActions:  forward,
			Tags:            awstags.Named(a.Tags, name+"-http"),
		}, parent, ownedByDeploy)
		if err != nil {
			return nil, err
		}
	}

	bg.DNSName = alb.DnsName
	bg.ListenerArn = listener.Arn
	bg.SecurityGroupID = sg.ID()
	outputs := pulumi.Map{
		"dnsName":         bg.DNSName,
		"listenerArn":     bg.ListenerArn,
		"securityGroupId": bg.SecurityGroupID,
	}
	for _, color := range Colors {
		outputs[color+"TargetGroupArn"] = bg.TargetGroupArns[color]
	}
	if err := ctx.RegisterResourceOutputs(bg, outputs); err != nil {
		return nil, err
	}
	return bg, nil
}

// newSecurityGroup is the ALB's group: 80 and 443 from anywhere (IPv4 and IPv6) and nothing else in; out only to
// the VPC's range on the two colour ports, which is all an ALB in front of one host ever opens (traffic and health
// checks). The rules are inline so the group is authoritative: a rule added by hand is removed on the next up.
func newSecurityGroup(ctx *pulumi.Context, name string, a BlueGreenArgs, parent pulumi.ResourceOrInvokeOption) (*ec2.SecurityGroup, error) {
	vpcCidr := ec2.LookupVpcOutput(ctx, ec2.LookupVpcOutputArgs{Id: a.VpcID}, parent).CidrBlock()
	world := func(port int, what string) ec2.SecurityGroupIngressArgs {
		return ec2.SecurityGroupIngressArgs{
			Description:    pulumi.String(what + " from anywhere"),
			Protocol:       pulumi.String("tcp"),
			FromPort:       pulumi.Int(port),
			ToPort:         pulumi.Int(port),
			CidrBlocks:     pulumi.StringArray{pulumi.String("0.0.0.0/0")},
			Ipv6CidrBlocks: pulumi.StringArray{pulumi.String("::/0")},
		}
	}
	var egress ec2.SecurityGroupEgressArray
	for _, port := range []int{a.BluePort, a.GreenPort} {
		egress = append(egress, ec2.SecurityGroupEgressArgs{
			Description: pulumi.Sprintf("to the app host colour port %d", port),
			Protocol:    pulumi.String("tcp"),
			FromPort:    pulumi.Int(port),
			ToPort:      pulumi.Int(port),
			CidrBlocks:  pulumi.StringArray{vpcCidr},
		})
	}
	return ec2.NewSecurityGroup(ctx, name+"-alb-sg", &ec2.SecurityGroupArgs{
		VpcId:       a.VpcID,
		Description: pulumi.String("deploylab ALB: HTTP/HTTPS from anywhere, out to the app host colour ports"),
		Ingress:     ec2.SecurityGroupIngressArray{world(80, "HTTP"), world(443, "HTTPS")},
		Egress:      egress,
		Tags:        awstags.Named(a.Tags, name+"-alb-sg"),
	}, parent)
}

// withDefaults fills every optional field left empty.
func withDefaults(a BlueGreenArgs) BlueGreenArgs {
	if a.BluePort == 0 {
		a.BluePort = 8081
	}
	if a.GreenPort == 0 {
		a.GreenPort = 8082
	}
	if a.HealthPath == "" {
		a.HealthPath = "/actuator/health"
	}
	if a.ActiveColor == "" {
		a.ActiveColor = Blue
	}
	return a
}

var (
	// certificateArn accepts ACM certificates and IAM server certificates, in any partition.
	certificateArn = regexp.MustCompile(`^arn:aws[a-z-]*:(acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+|iam::\d{12}:server-certificate/.+)$`)
	// bucketName is S3's rule for bucket names (3–63 lowercase letters, digits, dots, hyphens).
	bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
)

// validate checks the defaulted args and returns every problem at once.
func validate(a BlueGreenArgs) error {
	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf(format, v...)) }
	if a.VpcID == nil {
		bad("VpcID: required (the VPC's ID, e.g. network.VpcID)")
	}
	if a.SubnetIDs == nil {
		bad("SubnetIDs: required (two public subnets in two AZs, e.g. network.PublicSubnetIDs)")
	}
	for _, p := range []struct {
		key  string
		port int
	}{{"BluePort", a.BluePort}, {"GreenPort", a.GreenPort}} {
		if p.port < 1 || p.port > 65535 {
			bad("%s: %d is not a port (want 1-65535)", p.key, p.port)
		}
	}
	if a.BluePort == a.GreenPort {
		bad("GreenPort: %d equals BluePort (want two different ports, e.g. 8081 and 8082)", a.GreenPort)
	}
	if !strings.HasPrefix(a.HealthPath, "/") {
		bad("HealthPath: %q does not start with / (want e.g. /actuator/health)", a.HealthPath)
	}
	if a.ActiveColor != Blue && a.ActiveColor != Green {
		bad("ActiveColor: %q is not a colour (want %s or %s)", a.ActiveColor, Blue, Green)
	}
	if a.CertificateArn != "" && !certificateArn.MatchString(a.CertificateArn) {
		bad("CertificateArn: %q is not a certificate ARN (want arn:aws:acm:REGION:ACCOUNT:certificate/ID, or empty for HTTP only)", a.CertificateArn)
	}
	if a.AccessLogsBucket != "" && (!bucketName.MatchString(a.AccessLogsBucket) || strings.Contains(a.AccessLogsBucket, "..")) {
		bad("AccessLogsBucket: %q is not an S3 bucket name (want the bare name, e.g. my-alb-logs, not an ARN or s3:// URL)", a.AccessLogsBucket)
	}
	for k, v := range a.Tags {
		switch k {
		case "":
			bad("Tags: empty key (value %q)", v)
		case "Name":
			bad("Tags[Name]: %q would be overwritten: each resource gets Name=<component name>-<suffix>; remove it", v)
		}
	}
	return errors.Join(errs...)
}

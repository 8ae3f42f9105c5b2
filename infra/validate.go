package infra

import (
	"fmt"
	"github.com/deploylab/deploylab/components/apphost"
	"github.com/deploylab/deploylab/components/gke"
	"github.com/deploylab/deploylab/components/k8sclass"
	"github.com/deploylab/deploylab/internal/awslimits"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Accepted values of the enumerated keys.
var (
	Envs         = []string{"dev", "prod", "training"}
	Images       = []string{"debian-12", "ubuntu-24.04"}
	Colors       = []string{"blue", "green"}
	BuildTools   = []string{"gradle", "maven"}
	linuxUser    = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	reservedUser = []string{"root", "admin", "ubuntu", "debian", "daemon", "bin", "sys", "nobody", "www-data", "docker", "sshd", "jenkins"}
)

// problems gathers one line per invalid key, each naming the key, the value and what is accepted.
type problems []string

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, Namespace+":"+key+": "+fmt.Sprintf(format, args...))
}

// Validate checks a defaulted configuration and reports every problem at once.
func Validate(c *Config) error {
	var p problems
	if !contains(Envs, c.Env) {
		p.add("env", "%q is not one of %s", c.Env, strings.Join(Envs, ", "))
	}
	if strings.TrimSpace(c.Owner) == "" {
		p.add("owner", "is required (a team or person; it tags every resource)")
	} else if problem := awslimits.TagValue(c.Owner); problem != "" {
		p.add("owner", "%q %s: it tags every resource (e.g. devops-class)", c.Owner, problem)
	}
	validateExpiry(&p, c)
	validateAdminCidrs(&p, c)
	validateAppHost(&p, c)
	validateBlueGreen(&p, c)
	validateJenkins(&p, c)
	validateGKE(&p, c)
	validateClassroom(&p, c)
	if len(p) > 0 {
		return &ConfigError{Problems: p}
	}
	return nil
}

func validateExpiry(p *problems, c *Config) {
	switch {
	case c.ExpiresAt == "" && c.Env == "training":
		p.add("expiresAt", "is required for env training (RFC 3339, e.g. 2026-12-01T18:00:00+09:00): the reaper destroys the stack after it")
	case c.ExpiresAt != "":
		if _, err := time.Parse(time.RFC3339, c.ExpiresAt); err != nil {
			p.add("expiresAt", "%q is not an RFC 3339 time (want e.g. 2026-12-01T18:00:00+09:00)", c.ExpiresAt)
		}
	}
}

func validateAdminCidrs(p *problems, c *Config) {
	if len(c.AdminCidrs) == 0 {
		p.add("adminCidrs", "is required: at least one CIDR that may reach SSH, Jenkins and the GKE API (e.g. 203.0.113.0/24)")
	}
	for i, cidr := range c.AdminCidrs {
		key := fmt.Sprintf("adminCidrs[%d]", i)
		if prefix, ok := checkCIDR(p, key, cidr); ok && prefix.Bits() == 0 {
			// Only 80 and 443 open to the world, in every environment: SSH, Jenkins and the GKE API are
			// reached from named ranges (Session Manager needs no open port at all).
			p.add(key, "%q would open SSH, Jenkins and the GKE API to the whole internet; name your office, VPN or classroom range (e.g. 203.0.113.0/24)", cidr)
		}
	}
}

// checkCIDR reports a value that is not a CIDR, or one with host bits set (AWS and GCP both refuse those).
func checkCIDR(p *problems, key, value string) (netip.Prefix, bool) {
	prefix, err := netip.ParsePrefix(value)
	if err != nil {
		p.add(key, "%q is not a CIDR (want e.g. 203.0.113.0/24)", value)
		return prefix, false
	}
	if prefix.Masked() != prefix {
		p.add(key, "%q has host bits set (want %s)", value, prefix.Masked())
		return prefix, false
	}
	return prefix, true
}

func validatePort(p *problems, key string, port int) {
	if port < 1 || port > 65535 {
		p.add(key, "%d is not a port (want 1-65535)", port)
	}
}

func validateAppHost(p *problems, c *Config) {
	a := c.AppHost
	if !contains(Images, a.Image) {
		p.add("appHost.image", "%q is not one of %s", a.Image, strings.Join(Images, ", "))
	}
	validateUserName(p, "appHost.adminUser", a.AdminUser)
	for i, key := range a.SSHPublicKeys {
		validateSSHKey(p, fmt.Sprintf("appHost.sshPublicKeys[%d]", i), key)
	}
	if *a.Enabled && len(a.SSHPublicKeys) == 0 && !a.PasswordAuth {
		p.add("appHost.sshPublicKeys", "is empty and passwordAuth is false: nobody could log in over SSH (add a key or set passwordAuth: true)")
	}
	validateDomain(p, "appHost", a.Domain, a.CertbotEmail)
	if a.Domain != "" && c.BlueGreen.Enabled {
		// The name would resolve to the ALB, so the host's HTTP-01 challenge could never validate.
		p.add("appHost.domain", "%q with blueGreen.enabled: the name points at the ALB, where certbot on the host cannot answer Let's Encrypt; leave appHost.domain empty and put the ALB's certificate in blueGreen.certificateArn (ACM)", a.Domain)
	}
	if !strings.HasPrefix(a.HealthPath, "/") {
		p.add("appHost.healthPath", "%q must start with / (e.g. /actuator/health)", a.HealthPath)
	}
	validatePort(p, "appHost.appPort", a.AppPort)
	validatePort(p, "appHost.bluePort", a.BluePort)
	validatePort(p, "appHost.greenPort", a.GreenPort)
	if a.BluePort == a.GreenPort {
		p.add("appHost.greenPort", "%d equals bluePort: the two colours need two ports", a.GreenPort)
	}
	for _, reserved := range []int{22, 80, 443, apphost.SwitchPort} {
		if a.BluePort == reserved || a.GreenPort == reserved {
			p.add("appHost.bluePort", "blue %d / green %d: ports 22, 80, 443 (sshd, nginx) and %d (deploy.sh's switch port) are taken", a.BluePort, a.GreenPort, apphost.SwitchPort)
			break
		}
	}
	if !regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`).MatchString(a.AppName) {
		p.add("appHost.appName", "%q is not a compose project name (lowercase letters, digits, - and _)", a.AppName)
	}
	if a.VolumeSizeGiB < 8 || a.VolumeSizeGiB > 16384 {
		p.add("appHost.volumeSizeGiB", "%d is out of range (want 8-16384)", a.VolumeSizeGiB)
	}
}

func validateUserName(p *problems, key, name string) {
	switch {
	case !linuxUser.MatchString(name):
		p.add(key, "%q is not a valid Linux user name (lowercase letter or _ first, then a-z 0-9 _ -, at most 32)", name)
	case contains(reservedUser, name):
		p.add(key, "%q is a system user name (not one of %s)", name, strings.Join(reservedUser, ", "))
	}
}

func validateSSHKey(p *problems, key, value string) {
	fields := strings.Fields(value)
	if len(fields) < 2 || !regexp.MustCompile(`^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)$`).MatchString(fields[0]) {
		p.add(key, "%q is not an OpenSSH public key (want e.g. ssh-ed25519 AAAA... you@laptop)", abbreviate(value))
	}
}

func validateDomain(p *problems, section, domain, email string) {
	if domain == "" {
		if email != "" {
			p.add(section+".certbotEmail", "%q is set but %s.domain is empty: certbot needs a domain", email, section)
		}
		return
	}
	if !regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`).MatchString(domain) {
		p.add(section+".domain", "%q is not a lowercase DNS name (want e.g. app.example.com)", domain)
	}
	if !regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`).MatchString(email) {
		p.add(section+".certbotEmail", "%q is not an email address; a domain needs one for Let's Encrypt", email)
	}
}

func validateBlueGreen(p *problems, c *Config) {
	b := c.BlueGreen
	if !contains(Colors, b.ActiveColor) {
		p.add("blueGreen.activeColor", "%q is not one of %s", b.ActiveColor, strings.Join(Colors, ", "))
	}
	if b.Enabled && !*c.AppHost.Enabled {
		p.add("blueGreen.enabled", "true needs appHost.enabled: the ALB forwards to the app host")
	}
	if b.Enabled && len(c.Classroom.Students) > 0 {
		p.add("blueGreen.enabled", "true with classroom.students: the ALB fronts the stack's one app host, a classroom has a host per student")
	}
	if b.CertificateArn != "" {
		validateCertificateArn(p, b.CertificateArn, c.Region)
	}
}

// certificateArn splits an ACM certificate ARN into partition, region and account.
var certificateArn = regexp.MustCompile(`^arn:(aws[a-z-]*):acm:([a-z0-9-]+):(\d{12}):certificate/[0-9a-f-]+$`)

// validateCertificateArn checks the shape of the ARN and that it can be used here: an ALB listener takes only a
// certificate of ACM in its own region (ACM User Guide, "Supported Regions": certificates are regional), in its
// own partition. A certificate of another region otherwise fails the listener at `pulumi up` with
// CertificateNotFound.
func validateCertificateArn(p *problems, arn, region string) {
	m := certificateArn.FindStringSubmatch(arn)
	if m == nil {
		p.add("blueGreen.certificateArn", "%q is not an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID, ACCOUNT 12 digits, ID lowercase hex and -)", arn)
		return
	}
	if m[2] != region {
		p.add("blueGreen.certificateArn", "%q is in region %s, but the stack deploys to aws:region %s: an ALB takes only an ACM certificate of its own region (request or import it in %s)", arn, m[2], region, region)
	}
	if want := partition(region); m[1] != want {
		p.add("blueGreen.certificateArn", "%q is in partition %s, but aws:region %s is in partition %s (arn:%s:acm:...)", arn, m[1], region, want, want)
	}
}

// partition is the AWS partition of a region: China and GovCloud have their own.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

func validateJenkins(p *problems, c *Config) {
	j := c.Jenkins
	if !j.Enabled {
		return
	}
	if !strings.HasPrefix(j.AppRepo, "https://") && !strings.HasPrefix(j.AppRepo, "git@") {
		p.add("jenkins.appRepo", "%q is not a git URL (https://... or git@...)", j.AppRepo)
	}
	if strings.TrimSpace(j.Branch) == "" || strings.ContainsAny(j.Branch, " ~^:?*[\\") {
		p.add("jenkins.branch", "%q is not a git branch name", j.Branch)
	}
	if !contains(BuildTools, j.BuildTool) {
		p.add("jenkins.buildTool", "%q is not one of %s", j.BuildTool, strings.Join(BuildTools, ", "))
	}
	if *j.Executors < 1 || *j.Executors > 16 {
		p.add("jenkins.executors", "%d is out of range (want 1-16: builds the Jenkins build agent runs at once)", *j.Executors)
	}
	if j.HomeVolumeGiB < 10 || j.HomeVolumeGiB > 16384 {
		p.add("jenkins.homeVolumeGiB", "%d is out of range (want 10-16384)", j.HomeVolumeGiB)
	}
	validateDomain(p, "jenkins", j.Domain, j.CertbotEmail)
	if !*c.AppHost.Enabled {
		p.add("jenkins.enabled", "true needs appHost.enabled: the deploy pipeline deploys to the app host")
	}
	if len(c.Classroom.Students) > 0 {
		p.add("jenkins.enabled", "true with classroom.students: a classroom has a host per student and no stack app host for the deploy pipeline")
	}
}

func validateGKE(p *problems, c *Config) {
	if !c.GKE.Enabled {
		return
	}
	args := GKEArgs(c)
	// Each student host is added to the master authorized networks once it exists (deployGKE); count them now,
	// so a class too large for GKE's limit is refused as config, before anything is created.
	for _, s := range c.Classroom.Students {
		args.ExtraAuthorizedNetworks = append(args.ExtraAuthorizedNetworks, gke.AuthorizedNetwork{Name: "student-" + s.Name, CIDR: pulumi.String("192.0.2.1/32")})
	}
	for _, problem := range args.Validate() {
		if strings.HasPrefix(problem, "adminCidrs") { // a top-level key
			*p = append(*p, Namespace+":"+problem)
			continue
		}
		*p = append(*p, Namespace+":gke."+problem)
	}
	if !hasClass(c) {
		return
	}
	// The class gives each student a namespace student-NAME; a Linux user name may hold characters a
	// Kubernetes name may not.
	for _, problem := range k8sclass.NamespaceProblems(k8sclass.DefaultNamespacePrefix, studentNames(c)) {
		*p = append(*p, Namespace+":classroom."+problem)
	}
	if _, err := classQuota(c); err != nil {
		*p = append(*p, err.Error())
	}
}

func validateClassroom(p *problems, c *Config) {
	students := c.Classroom.Students
	if len(students) > 0 && c.Env != "training" {
		p.add("classroom.students", "%d students in env %q: a classroom is for env training only", len(students), c.Env)
	}
	if len(students) > 0 && !*c.AppHost.Enabled {
		p.add("classroom.students", "needs appHost.enabled: every student gets an app host")
	}
	seen := map[string]int{}
	for i, s := range students {
		key := fmt.Sprintf("classroom.students[%d].name", i)
		validateUserName(p, key, s.Name)
		if s.Name == c.AppHost.AdminUser {
			p.add(key, "%q is the admin user's name", s.Name)
		}
		if first, dup := seen[s.Name]; dup {
			p.add(key, "%q repeats students[%d]: names must be unique", s.Name, first)
		}
		seen[s.Name] = i
		for k, key := range s.SSHPublicKeys {
			validateSSHKey(p, fmt.Sprintf("classroom.students[%d].sshPublicKeys[%d]", i, k), key)
		}
		if len(s.SSHPublicKeys) == 0 && !c.AppHost.PasswordAuth {
			p.add(fmt.Sprintf("classroom.students[%d].sshPublicKeys", i), "student %q has no key and appHost.passwordAuth is false: they could not log in", s.Name)
		}
	}
}

func abbreviate(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

package apphost

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-tls/sdk/v5/go/tls"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/deploylab/deploylab/components/internal/ec2arch"
)

// HostArgs configures an app host. Fields without Pulumi types are plain so the user data renders from them
// alone (RenderUserData); the Pulumi inputs are only wired into resources.
type HostArgs struct {
	// SubnetID is the public subnet the host starts in. Required.
	SubnetID pulumi.StringInput
	// VpcID is the VPC of SubnetID, where the security group lives. Required.
	VpcID pulumi.StringInput
	// InstanceType is the EC2 instance type. Optional, default t3.small. Graviton types (a1, t4g, m7g, …) get the
	// arm64 image (components/internal/ec2arch).
	InstanceType string
	// Image is the official image: debian-12 or ubuntu-24.04. Optional, default debian-12 (the release the boot test
	// boots, so what is tested is what runs).
	Image string
	// AdminUser is the Linux user with passwordless sudo that deploys (deploy.sh runs as it). Optional, default deploy.
	AdminUser string
	// SSHPublicKeys are authorized for AdminUser. Optional: without keys the way in is SSM Session Manager.
	SSHPublicKeys []string
	// PasswordAuth gives AdminUser a random password (secret output Passwords) and allows SSH password login for
	// it. Optional, default false.
	PasswordAuth bool
	// ExtraUsers are further Linux users, e.g. a classroom student. Optional, default none; the admin always exists.
	ExtraUsers []User
	// DeployKey is an SSH public key (Jenkins's) authorized for AdminUser only, restricted to deploy.sh's
	// allow-list (DeployKeyOptions). Optional.
	DeployKey pulumi.StringInput
	// HostKey is the host's SSH host key, an ED25519 tls.PrivateKey kept in state, so a replaced host keeps the key
	// Jenkins pinned. Optional, default a key the component generates; pass one made before Jenkins when Jenkins
	// must know the public half first (infra does). The private half reaches the host through the host's own
	// bucket, readable by its role only, never through the user data.
	HostKey *tls.PrivateKey
	// AdminCidrs may reach SSH (22). Optional, default none (SSH closed; SSM still works). A /0 is refused: only
	// 80 and 443 are open to the world.
	AdminCidrs []string
	// AppPortsFrom is a security group ID (the load balancer's) allowed to reach BluePort and GreenPort. Optional,
	// default none (nginx on the host is the only way to the app).
	AppPortsFrom pulumi.StringInput
	// ExtraPolicyARNs are attached to the host's role besides AmazonSSMManagedInstanceCore, e.g. ECR pull.
	// Optional, default none.
	ExtraPolicyARNs []pulumi.StringInput
	// Domain is the site's DNS name; with it, certbot fetches a Let's Encrypt certificate once the name resolves
	// to the host. Optional, default none (plain HTTP on the public DNS name).
	Domain string
	// CertbotEmail is the Let's Encrypt account address. Required when Domain is set.
	CertbotEmail string
	// CertbotStaging uses Let's Encrypt's staging CA (untrusted certificates, generous limits). Optional, default false.
	CertbotStaging bool
	// AppName names the app's containers and compose projects. Optional, default app.
	AppName string
	// AppPort is the port the app listens on inside its container. Optional, default 8080.
	AppPort int
	// BluePort and GreenPort are the host ports (bound to 127.0.0.1) of the two colours. Optional, defaults 8081
	// and 8082; they must differ and may not be 22, 80 or 443.
	BluePort, GreenPort int
	// HealthPath is the app's health endpoint. Optional, default /actuator/health/readiness (Spring Boot's
	// readiness group: healthy only once the app takes traffic; needs management.endpoint.health.probes.enabled).
	HealthPath string
	// ElasticIP gives the host a fixed public address that survives a replacement. Optional, default false.
	ElasticIP bool
	// VolumeSizeGiB is the size of the encrypted gp3 root volume. Optional, default 20 (images and layers need room).
	VolumeSizeGiB int
	// SSHFrom is a security group ID (the Jenkins build agent's) allowed to reach SSH; only the deploy key is
	// authorized there, for the admin user. Optional, default none.
	SSHFrom pulumi.StringInput
	// PrivateIP fixes the host's private address inside SubnetID, so another host (Jenkins) can be configured
	// with it before this one exists. The address is reserved in the subnet (explicit /32) so no other interface
	// takes it, and a replacement deletes the old host first (the address is held by one instance at a time).
	// Optional, default an address AWS picks.
	PrivateIP string
	// ALB, when set, makes deploy.sh switch colours by moving this ALB listener between the colours' target
	// groups (SWITCH=alb) instead of reloading nginx, and lets the instance role do exactly that. Optional.
	ALB *ALBSwitch
	// ECRRepositoryURL, when set, lets Docker on the host pull from that repository with the instance role,
	// through the ECR credential helper: no stored registry password. Optional.
	ECRRepositoryURL pulumi.StringInput
	// Kubectl installs kubectl (KubectlMinor, from the Kubernetes apt repository) for a student of a class with a
	// GKE cluster. Optional, default false.
	Kubectl bool
	// Tags are added to every resource that takes tags. Optional; Name defaults to the component's name.
	Tags map[string]string
}

// ALBSwitch names the listener and target groups deploy.sh switches between and the ALB's DNS name, through
// which deploy.sh verifies a deploy (all required).
type ALBSwitch struct {
	ListenerArn, BlueTargetGroupArn, GreenTargetGroupArn, DNSName pulumi.StringInput
	// HTTPS says the forwarding listener is HTTPS (the ALB has a certificate; its HTTP listener only redirects).
	// Optional, default false.
	HTTPS bool
}

// User is a Linux user besides the admin.
type User struct {
	// Name is the Linux user name. Required.
	Name string
	// SSHPublicKeys are authorized for the user. Required unless PasswordAuth.
	SSHPublicKeys []string
	// PasswordAuth gives the user a random password (secret output Passwords) and allows SSH password login for
	// the user only. Optional, default false.
	PasswordAuth bool
	// Sudo gives the user passwordless sudo and the docker group, like the admin. Optional, default false.
	Sudo bool
}

// image is an official image and what differs between the images deploylab supports.
type image struct {
	// ssmParameter is the public SSM parameter holding the current AMI ID; %s is the architecture.
	ssmParameter string
	// composePackage provides `docker compose` or `docker-compose`; deploy.sh uses whichever exists.
	composePackage string
	// awsCLIPackage is the apt package of the AWS CLI, or "" when the release has none (then the snap).
	awsCLIPackage string
}

var images = map[string]image{
	// Debian's cloud team publishes these parameters (https://wiki.debian.org/Cloud/AmazonEC2Image).
	"debian-12": {"/aws/service/debian/release/12/latest/%s", "docker-compose", "awscli"},
	// Canonical publishes these under /aws/service/canonical/ubuntu/ (gp3-backed, current stable build).
	"ubuntu-24.04": {"/aws/service/canonical/ubuntu/server/24.04/stable/current/%s/hvm/ebs-gp3/ami-id", "docker-compose-v2", ""},
}

// withDefaults returns a copy of a with every optional field that is empty set to its default.
func (a HostArgs) withDefaults() HostArgs {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defInt := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	def(&a.InstanceType, "t3.small")
	def(&a.Image, "debian-12")
	def(&a.AdminUser, "deploy")
	def(&a.AppName, "app")
	def(&a.HealthPath, "/actuator/health/readiness")
	defInt(&a.AppPort, 8080)
	defInt(&a.BluePort, 8081)
	defInt(&a.GreenPort, 8082)
	defInt(&a.VolumeSizeGiB, 20)
	return a
}

var (
	linuxNameRe  = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	appNameRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,40}$`)
	domainRe     = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	emailRe      = regexp.MustCompile(`^[^@\s'"]+@[a-z0-9.-]+\.[a-z]{2,63}$`)
	healthPathRe = regexp.MustCompile(`^/[^\s'"]*$`)
	sshKeyRe     = regexp.MustCompile(`^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\x00-\x1f]*)?$`)
)

// reservedNames are accounts the images already have; reusing one would modify a system account.
var reservedNames = map[string]bool{
	"root": true, "daemon": true, "bin": true, "sys": true, "sync": true, "nobody": true, "sshd": true,
	"www-data": true, "docker": true, "systemd-network": true, "messagebus": true, "_apt": true,
}

// validateHost checks the fields only the cloud resources use; validateUserData checks the rest. NewHost joins both.
func (a HostArgs) validateHost() []error {
	var errs []error
	if a.SubnetID == nil {
		errs = append(errs, errors.New("SubnetID is required (want the ID of a public subnet, e.g. subnet-0abc)"))
	}
	if a.VpcID == nil {
		errs = append(errs, errors.New("VpcID is required (want the ID of the subnet's VPC, e.g. vpc-0abc)"))
	}
	if _, err := ec2arch.ForInstanceType(a.InstanceType); err != nil {
		errs = append(errs, fmt.Errorf("InstanceType %q: want an EC2 instance type, e.g. t3.small (amd64) or t4g.small (arm64)", a.InstanceType))
	}
	for i, c := range a.AdminCidrs {
		p, err := netip.ParsePrefix(c)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("AdminCidrs[%d]: %q is not a CIDR (want e.g. 203.0.113.0/24)", i, c))
		case p.Bits() == 0:
			errs = append(errs, fmt.Errorf("AdminCidrs[%d]: %q opens SSH to the world (want your network, e.g. 203.0.113.0/24; SSM needs no CIDR)", i, c))
		case p.Masked() != p:
			errs = append(errs, fmt.Errorf("AdminCidrs[%d]: %q has host bits set (want %s)", i, c, p.Masked()))
		}
	}
	if a.VolumeSizeGiB < 8 || a.VolumeSizeGiB > 16384 {
		errs = append(errs, fmt.Errorf("VolumeSizeGiB %d: want 8 to 16384 (the images need 8)", a.VolumeSizeGiB))
	}
	for _, k := range slices.Sorted(maps.Keys(a.Tags)) {
		if k == "" || len(k) > 128 || strings.HasPrefix(k, "aws:") || len(a.Tags[k]) > 256 {
			errs = append(errs, fmt.Errorf("Tags[%q]=%q: want a key of 1 to 128 characters not starting with aws: and a value of at most 256", k, a.Tags[k]))
		}
	}
	return errs
}

// validateUserData checks every field the user data is rendered from.
func (a HostArgs) validateUserData() []error {
	var errs []error
	if _, ok := images[a.Image]; !ok {
		errs = append(errs, fmt.Errorf("Image %q: want one of %s", a.Image, strings.Join(slices.Sorted(maps.Keys(images)), ", ")))
	}
	names := map[string]string{}
	checkUser := func(field, name string, keys []string) {
		switch {
		case !linuxNameRe.MatchString(name):
			errs = append(errs, fmt.Errorf("%s %q: want a Linux user name (lowercase letter or _, then up to 31 of a-z 0-9 _ -)", field, name))
		case reservedNames[name]:
			errs = append(errs, fmt.Errorf("%s %q: is a system account of the image (want another name)", field, name))
		case names[name] != "":
			errs = append(errs, fmt.Errorf("%s %q: already used by %s (want unique user names)", field, name, names[name]))
		default:
			names[name] = field
		}
		for i, k := range keys {
			if err := checkSSHKey(k); err != nil {
				errs = append(errs, fmt.Errorf("%s: SSHPublicKeys[%d]: %w", strings.TrimSuffix(field, ".Name"), i, err))
			}
		}
	}
	checkUser("AdminUser", a.AdminUser, a.SSHPublicKeys)
	for i, u := range a.ExtraUsers {
		field := fmt.Sprintf("ExtraUsers[%d].Name", i)
		checkUser(field, u.Name, u.SSHPublicKeys)
		if len(u.SSHPublicKeys) == 0 && !u.PasswordAuth {
			errs = append(errs, fmt.Errorf("ExtraUsers[%d] %q: has no way to log in (want SSHPublicKeys or PasswordAuth)", i, u.Name))
		}
	}
	if a.Domain != "" {
		if !domainRe.MatchString(a.Domain) {
			errs = append(errs, fmt.Errorf("Domain %q: want a lowercase DNS name, e.g. app.example.com", a.Domain))
		}
		if !emailRe.MatchString(a.CertbotEmail) {
			errs = append(errs, fmt.Errorf("CertbotEmail %q: want an e-mail address for Let's Encrypt when Domain is set", a.CertbotEmail))
		}
	}
	if !appNameRe.MatchString(a.AppName) {
		errs = append(errs, fmt.Errorf("AppName %q: want lowercase letters, digits, - or _ (1 to 41, a compose project name)", a.AppName))
	}
	for _, p := range []struct {
		field string
		port  int
	}{{"AppPort", a.AppPort}, {"BluePort", a.BluePort}, {"GreenPort", a.GreenPort}} {
		if p.port < 1 || p.port > 65535 {
			errs = append(errs, fmt.Errorf("%s %d: want a port 1 to 65535", p.field, p.port))
		}
		if p.field != "AppPort" && (p.port == 22 || p.port == 80 || p.port == 443) {
			errs = append(errs, fmt.Errorf("%s %d: is taken by sshd or nginx (want e.g. 8081)", p.field, p.port))
		}
	}
	if a.BluePort == a.GreenPort {
		errs = append(errs, fmt.Errorf("BluePort and GreenPort are both %d: want two different ports", a.BluePort))
	}
	if !healthPathRe.MatchString(a.HealthPath) {
		errs = append(errs, fmt.Errorf("HealthPath %q: want a path starting with / without spaces or quotes", a.HealthPath))
	}
	return errs
}

// checkSSHKey accepts one OpenSSH public key line; a newline would smuggle a second key into authorized_keys.
func checkSSHKey(k string) error {
	if !sshKeyRe.MatchString(k) {
		shown := k
		if len(shown) > 40 {
			shown = shown[:40] + "…"
		}
		return fmt.Errorf("%q is not one OpenSSH public key line (want e.g. \"ssh-ed25519 AAAA… you@laptop\")", shown)
	}
	return nil
}

// passwordUsers lists, admin first, the users that get a password.
func (a HostArgs) passwordUsers() []string {
	var out []string
	if a.PasswordAuth {
		out = append(out, a.AdminUser)
	}
	for _, u := range a.ExtraUsers {
		if u.PasswordAuth {
			out = append(out, u.Name)
		}
	}
	return out
}

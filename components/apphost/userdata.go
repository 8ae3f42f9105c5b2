package apphost

import (
	_ "embed" // host-side files installed by the user data
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/deploylab/deploylab/internal/cloudinit"
	"github.com/deploylab/deploylab/internal/nginxsite"
	"github.com/deploylab/deploylab/scripts"
)

// Paths on the host. deploy.sh reads DeployEnvPath; the upstream include lives in a directory the admin owns so
// deploy.sh can write the new upstream beside the old one and rename it into place.
const (
	SSHDDropInPath   = "/etc/ssh/sshd_config.d/00-deploylab.conf"
	DeployScriptPath = "/usr/local/bin/deploy.sh"
	DeployEnvPath    = "/etc/deploylab/deploy.env"
	UpstreamDir      = "/etc/nginx/deploylab"
	UpstreamFile     = UpstreamDir + "/upstream.conf"
	SitePath         = "/etc/nginx/sites-available/deploylab"
	// SwitchPort is the fixed local port nginx proxies to with deploy.sh's SWITCH=nft; a kernel NAT rule sends
	// it on to the live colour. Nothing listens on it and it is reachable only from the host itself.
	SwitchPort = 8090
	// switchRestoreUnit re-creates the NAT rule at boot (the kernel forgets it on reboot).
	switchRestoreUnit = "deploylab-switch-restore.service"
	StateDir          = "/var/lib/deploylab"
	certbotEnvPath    = "/etc/deploylab/certbot.env"
	certbotScriptPath = "/usr/local/sbin/deploylab-certbot"
	ssmScriptPath     = "/usr/local/sbin/deploylab-ssm-agent"
	s3Path            = "/usr/local/sbin/deploylab-s3"
	kubectlPath       = "/usr/local/sbin/deploylab-kubectl"
	// KubectlMinor is the kubectl a student host gets: within one minor of what GKE's REGULAR channel runs
	// (kubectl's version skew policy). Raise it with the channel.
	KubectlMinor = "v1.34"
	// KubernetesKeyFingerprint pins the signing key of pkgs.k8s.io ("isv:kubernetes OBS Project"; the
	// fingerprint Kubernetes' install docs and kubernetes/release#3818 name).
	KubernetesKeyFingerprint = "DE15B14486CD377B9E876E1A234654DA9A296436"
	// certbotHookPath runs after every issuance and renewal: the certificate is backed up to the host's bucket.
	certbotHookPath = "/etc/letsencrypt/renewal-hooks/deploy/deploylab-backup"
	readyPath       = "/usr/local/sbin/deploylab-ready"
	// DockerDaemonPath bounds container logs on a 20 GiB disk and keeps containers running while dockerd
	// restarts (an apt upgrade of docker.io would otherwise stop the live colour).
	DockerDaemonPath = "/etc/docker/daemon.json"
	dockerDaemon     = `{"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}, "live-restore": true}` + "\n"
	// MaxAuthTries counts every public key an agent offers: 3 cut off people whose agent holds three keys.
	MaxAuthTries = 6
	// SudoRule is what cloud-init writes after the user name into /etc/sudoers.d/90-cloud-init-users.
	SudoRule = "ALL=(ALL) NOPASSWD:ALL"
	// FinalMessage ends every boot log, whether the boot worked or not (cloud-init prints it either way).
	FinalMessage = "deploylab app host: cloud-init done after $UPTIME seconds"
	// ReadyMessage is printed only when the ready check passed: packages, files, nginx and docker.
	ReadyMessage = "deploylab app host ready"
)

var (
	//go:embed files/deploylab-certbot.sh
	certbotScript string
	//go:embed files/deploylab-certbot.service
	certbotService string
	//go:embed files/deploylab-certbot.timer
	certbotTimer string
	//go:embed files/deploylab-ssm-agent.sh
	ssmScript string
	//go:embed files/fail2ban-sshd.local
	fail2banJail string
	//go:embed files/deploylab-s3.sh
	s3Script string
	//go:embed files/deploylab-kubectl.sh
	kubectlScript string
	//go:embed files/deploylab-ready.sh
	readyScript string
)

// UserDataArgs is everything the user data depends on, as plain values.
type UserDataArgs struct {
	// Host is defaulted and validated here; its Pulumi inputs are ignored.
	Host HostArgs
	// DeployKey is the resolved HostArgs.DeployKey; empty for none.
	DeployKey string
	// PasswordHashes maps each user with password login to its SHA-512-crypt hash; nothing else of a password
	// ever reaches the user data.
	PasswordHashes map[string]string
	// ALB is the resolved HostArgs.ALB; nil switches with nginx.
	ALB *ALBTargets
	// ECRRepository is the resolved HostArgs.ECRRepositoryURL (registry host/name); empty for none.
	ECRRepository string
	// FilesBucket is the host's own bucket, where the files bundle and the host key are. Required.
	FilesBucket string
	// HostKey says the stack's SSH host key is in FilesBucket at HostKeyObjectKey (NewHost always puts it there).
	HostKey bool
}

// ALBTargets are the resolved ARNs of an ALBSwitch and the ALB's DNS name.
type ALBTargets struct {
	Listener, Blue, Green, DNSName string
	HTTPS                          bool
}

// Rendered is a host's user data and the files it fetches at boot.
type Rendered struct {
	// UserData is the #cloud-config document EC2 passes to the host.
	UserData string
	// Files are the files in Bundle, in order; tests and the boot test read them.
	Files []cloudinit.WriteFile
	// Bundle is what NewHost uploads to FilesBucket at FilesObjectKey; the user data pins its SHA256.
	Bundle Bundle
}

// SudoersLine is the sudoers rule cloud-init writes for user.
func SudoersLine(user string) string { return user + " " + SudoRule }

// RenderSSHDConfig returns the sshd drop-in. It is named 00-* so it sorts before cloud-init's 50-cloud-init.conf
// and Ubuntu's 60-cloudimg-settings.conf (Debian's and Ubuntu's sshd_config include the drop-ins on their first
// line), and sshd keeps the first value it reads for a keyword: these settings win over both. Password login is
// off globally and turned on by a Match block for exactly passwordUsers.
func RenderSSHDConfig(passwordUsers []string) string {
	var b strings.Builder
	b.WriteString(`# Managed by deploylab. Read before 50-cloud-init.conf and 60-cloudimg-settings.conf: the first value wins.
PermitRootLogin no
MaxAuthTries ` + strconv.Itoa(MaxAuthTries) + `
KbdInteractiveAuthentication no
PasswordAuthentication no
`)
	if len(passwordUsers) > 0 {
		// A Match block runs to the end of the file that holds it, so nothing may follow it here.
		fmt.Fprintf(&b, "\n# Password login only for the users that were given a password.\nMatch User %s\n    PasswordAuthentication yes\n",
			strings.Join(passwordUsers, ","))
	}
	return b.String()
}

// RenderDeployEnv returns deploy.sh's env file (KEY=VALUE, read as data, never sourced). The admin runs deploy.sh
// and has passwordless sudo, so nginx and nft run through sudo -n (never a prompt in a pipeline). Without an ALB
// the switch is nft: nginx is never reloaded for a deploy, so no client keepalive connection is closed.
//
// With an image repository (the stack's ECR), the CI deploy key's forced command deploys only images of it, by
// digest (SSH_IMAGE_REPOSITORY): whoever holds that key cannot make the host run an image from anywhere else.
func RenderDeployEnv(a HostArgs, alb *ALBTargets, imageRepository string) string {
	sw, publicURL := "nft", "http://127.0.0.1" // the check stays local: it works before DNS and the certificate exist
	if alb != nil {
		// The ALB serves the app, so verification goes through it; the host's nginx is not in that path.
		sw, publicURL = "alb", "http://"+alb.DNSName
		if alb.HTTPS {
			publicURL = "https://" + alb.DNSName
		}
	}
	lines := [][2]string{
		{"APP_NAME", a.AppName},
		{"APP_PORT", strconv.Itoa(a.AppPort)},
		{"BLUE_PORT", strconv.Itoa(a.BluePort)},
		{"GREEN_PORT", strconv.Itoa(a.GreenPort)},
		{"HEALTH_PATH", a.HealthPath},
		{"NGINX_UPSTREAM_FILE", UpstreamFile},
		{"NGINX_TEST_CMD", "sudo -n /usr/sbin/nginx -t -q"},
		{"NGINX_RELOAD_CMD", "sudo -n /usr/bin/systemctl reload nginx"},
		{"PUBLIC_URL", publicURL},
		{"SWITCH", sw},
		{"STATE_DIR", StateDir + "/" + a.AppName},
	}
	if alb == nil {
		lines = append(lines, [2]string{"SWITCH_PORT", strconv.Itoa(SwitchPort)}, [2]string{"NFT", "sudo -n /usr/sbin/nft"})
	} else {
		lines = append(lines, [2]string{"LISTENER_ARN", alb.Listener}, [2]string{"TG_BLUE_ARN", alb.Blue}, [2]string{"TG_GREEN_ARN", alb.Green},
			// The ALB health-checks and forwards to the instance's private address, which is not known when the
			// user data is rendered (it is an input of the instance): the colours are published on every
			// address, and the security group admits their ports from the ALB's group only.
			[2]string{"PUBLISH_ADDRESS", "0.0.0.0"})
		if alb.HTTPS {
			// With a certificate the HTTP listener only redirects, so the check goes over HTTPS to the ALB's own
			// DNS name, which the site's certificate never names: it proves the switch, not the certificate.
			lines = append(lines, [2]string{"PUBLIC_INSECURE", "1"})
		}
	}
	if imageRepository != "" {
		lines = append(lines, [2]string{"SSH_IMAGE_REPOSITORY", imageRepository})
	}
	var b strings.Builder
	b.WriteString("# Managed by deploylab (cloud-init). Read by " + DeployScriptPath + ".\n")
	for _, l := range lines {
		b.WriteString(l[0] + "=" + l[1] + "\n")
	}
	return b.String()
}

// RenderUserData returns the host's #cloud-config document and the files bundle it fetches. It is pure: the same
// arguments always give the same document and bundle, which is what keeps `pulumi up` from replacing the host when
// nothing changed.
//
// The user data holds only what must exist before the bundle can be fetched (users, sshd settings, packages) and
// the S3 client that fetches it; every other file is in the bundle, whose sha256 the user data pins. EC2 refuses user data
// over 16,384 bytes (terraform-provider-aws internal/service/ec2/ec2_instance.go, user_data:
// StringLenBetween(0, 16384)), and deploy.sh alone is about 30 KB (see README, Decisions).
func RenderUserData(u UserDataArgs) (Rendered, error) {
	a := u.Host.withDefaults()
	errs := a.validateUserData()
	if u.DeployKey != "" {
		if err := checkSSHKey(u.DeployKey); err != nil {
			errs = append(errs, fmt.Errorf("DeployKey: %w", err))
		}
	}
	pwUsers := a.passwordUsers()
	for _, name := range pwUsers {
		if h := u.PasswordHashes[name]; !strings.HasPrefix(h, "$6$") || strings.ContainsAny(h, ": \n") {
			errs = append(errs, fmt.Errorf("PasswordHashes[%q]: want a SHA-512-crypt hash ($6$…) for a user with PasswordAuth", name))
		}
	}
	if len(u.PasswordHashes) != len(pwUsers) {
		errs = append(errs, fmt.Errorf("PasswordHashes has %d entries for %d users with PasswordAuth (want one per user: %s)",
			len(u.PasswordHashes), len(pwUsers), strings.Join(pwUsers, ", ")))
	}
	if !bucketRe.MatchString(u.FilesBucket) {
		errs = append(errs, fmt.Errorf("FilesBucket %q: want an S3 bucket name (3 to 63 of a-z 0-9 . -)", u.FilesBucket))
	}
	if err := errors.Join(errs...); err != nil {
		return Rendered{}, fmt.Errorf("apphost user data: %w", err)
	}

	serverName := a.Domain // "" becomes nginx's catch-all
	site, err := nginxsite.Render(nginxsite.Args{ServerName: serverName, UpstreamFile: UpstreamFile, ListenPort: 80})
	if err != nil {
		return Rendered{}, fmt.Errorf("apphost user data: nginx site: %w", err)
	}

	adminKeys := append([]string(nil), a.SSHPublicKeys...)
	if u.DeployKey != "" {
		// Jenkins' key may run deploy.sh's allow-list (deploy IMAGE, rollback, status) and nothing else: no
		// shell, no forwarding, no pty (sshd(8) AUTHORIZED_KEYS FILE FORMAT: restrict, command).
		adminKeys = append(adminKeys, DeployKeyOptions+" "+u.DeployKey)
	}
	users := []cloudinit.User{linuxUser(a.AdminUser, adminKeys, true, u.PasswordHashes[a.AdminUser])}
	for _, x := range a.ExtraUsers {
		users = append(users, linuxUser(x.Name, x.SSHPublicKeys, x.Sudo, u.PasswordHashes[x.Name]))
	}

	img := images[a.Image]
	packages := []string{"ca-certificates", "curl", "lsof", "nginx", "docker.io", img.composePackage}
	var commands []string // what the ready check requires on PATH besides the packages
	owner := a.AdminUser + ":" + a.AdminUser
	// nginx proxies to the switch port from the start (SWITCH=nft); with an ALB, which targets the colours'
	// ports itself, the host's nginx keeps pointing at blue.
	firstUpstream := SwitchPort
	if u.ALB != nil {
		firstUpstream = a.BluePort
	}
	// files go to the bundle: written after the packages and users exist (owners, package directories).
	files := []cloudinit.WriteFile{
		{Path: DeployScriptPath, Content: scripts.DeployScript, Permissions: "0755"},
		{Path: DeployEnvPath, Content: RenderDeployEnv(a, u.ALB, u.ECRRepository), Permissions: "0644"},
		{Path: SitePath, Content: site, Permissions: "0644"},
		{Path: UpstreamFile, Content: nginxsite.Upstream(firstUpstream), Owner: owner, Permissions: "0644"},
		{Path: ssmScriptPath, Content: ssmScript, Permissions: "0755"},
		{Path: DockerDaemonPath, Content: dockerDaemon, Permissions: "0644"},
		// In the bundle: when the bundle did not arrive, the ready check is missing too, which fails the boot
		// just as visibly (command not found).
		{Path: readyPath, Content: readyScript, Permissions: "0755"},
	}
	var run [][]string
	if len(pwUsers) > 0 {
		packages = append(packages, "fail2ban", "python3-systemd")
		files = append(files, cloudinit.WriteFile{Path: "/etc/fail2ban/jail.d/deploylab-sshd.local", Content: renderJail(a.AdminCidrs), Permissions: "0644"})
		run = append(run, []string{"systemctl", "restart", "fail2ban.service"})
	}
	if a.Domain != "" {
		packages = append(packages, "certbot", "python3-certbot-nginx")
		staging := "0"
		if a.CertbotStaging {
			staging = "1"
		}
		files = append(files,
			cloudinit.WriteFile{Path: certbotEnvPath, Permissions: "0644",
				Content: "DOMAIN=" + a.Domain + "\nCERTBOT_EMAIL=" + a.CertbotEmail + "\nCERTBOT_STAGING=" + staging +
					"\nFILES_BUCKET=" + u.FilesBucket + "\n"},
			cloudinit.WriteFile{Path: certbotScriptPath, Content: certbotScript, Permissions: "0755"},
			cloudinit.WriteFile{Path: certbotHookPath, Permissions: "0755",
				Content: "#!/bin/sh\n# Managed by deploylab: keep the renewed certificate for a replaced host.\nset -a\n. " + certbotEnvPath + "\nexec " + certbotScriptPath + " backup\n"},
			cloudinit.WriteFile{Path: "/etc/systemd/system/deploylab-certbot.service", Content: certbotService, Permissions: "0644"},
			cloudinit.WriteFile{Path: "/etc/systemd/system/deploylab-certbot.timer", Content: certbotTimer, Permissions: "0644"},
		)
		run = append(run, []string{"systemctl", "daemon-reload"}, []string{"systemctl", "enable", "--now", "deploylab-certbot.timer"})
	}
	var preRun [][]string
	if u.ALB != nil {
		// deploy.sh SWITCH=alb calls elbv2 describe-target-health / modify-listener.
		if img.awsCLIPackage != "" {
			packages = append(packages, img.awsCLIPackage)
		} else {
			// Ubuntu 24.04 has no awscli package (aws/aws-cli#8978); its AMIs have snapd, and AWS publishes the
			// CLI v2 as the aws-cli snap.
			preRun = append(preRun, []string{"snap", "install", "aws-cli", "--classic"})
		}
		commands = append(commands, "aws")
	} else {
		// SWITCH=nft: the NAT rule lives in the kernel; the unit puts it back at every boot (enabled now, it
		// first runs at the next boot: before the first deploy there is nothing to restore).
		packages = append(packages, "nftables")
		files = append(files, cloudinit.WriteFile{Path: "/etc/systemd/system/" + switchRestoreUnit,
			Content: renderSwitchRestoreUnit(a.AdminUser), Permissions: "0644"})
		run = append(run, []string{"systemctl", "daemon-reload"}, []string{"systemctl", "enable", switchRestoreUnit})
	}
	if u.ECRRepository != "" {
		// docker asks the helper for this registry's credentials; the helper uses the instance role.
		packages = append(packages, "amazon-ecr-credential-helper")
		registry, _, _ := strings.Cut(u.ECRRepository, "/")
		dockerConfig := `{"credHelpers": {"` + registry + `": "ecr-login"}}` + "\n"
		files = append(files,
			cloudinit.WriteFile{Path: "/root/.docker/config.json", Content: dockerConfig, Permissions: "0600"},
			cloudinit.WriteFile{Path: "/home/" + a.AdminUser + "/.docker/config.json", Content: dockerConfig, Owner: owner, Permissions: "0600"})
	}
	readyPackages := packages
	if a.Kubectl {
		packages = append(packages, "gpg")
		readyPackages = append(packages, "kubectl")
		files = append(files, cloudinit.WriteFile{Path: kubectlPath, Content: kubectlScript, Permissions: "0755"})
		// In runcmd, not `packages:`: a repository that cannot be reached must not stop the host's own packages.
		run = append(run, []string{kubectlPath, KubectlMinor, KubernetesKeyFingerprint})
	}
	bundle, err := buildBundle(files)
	if err != nil {
		return Rendered{}, fmt.Errorf("apphost user data: %w", err)
	}

	bootstrap := []string{s3Path, "bootstrap", u.FilesBucket, FilesObjectKey, bundle.SHA256}
	if u.HostKey {
		bootstrap = append(bootstrap, HostKeyObjectKey)
	}
	ready := append([]string{readyPath, bundle.SHA256}, readyPackages...)
	for _, c := range commands {
		ready = append(ready, "--command", c)
	}
	runCmd := append(preRun, bootstrap,
		// After the bootstrap: the stack's host key is in place now.
		[]string{"systemctl", "try-reload-or-restart", "ssh.service"},
		[]string{"install", "-d", "-o", a.AdminUser, "-g", a.AdminUser, "-m", "0755", UpstreamDir, StateDir},
		[]string{"rm", "-f", "/etc/nginx/sites-enabled/default"},
		[]string{"ln", "-sf", SitePath, "/etc/nginx/sites-enabled/deploylab"},
		[]string{"nginx", "-t"},
		[]string{"systemctl", "reload-or-restart", "nginx.service"},
		// daemon.json came with the bundle, after the package started dockerd with its defaults.
		[]string{"systemctl", "restart", "docker.service"},
		[]string{"systemctl", "enable", "docker.service"},
	)
	runCmd = append(runCmd, run...)
	// Best effort: the host is useful without the SSM agent, so a failed download is logged, not fatal.
	runCmd = append(runCmd, []string{"sh", "-c", ssmScriptPath + " || echo 'deploylab: SSM agent not installed, see above' >&2"},
		// Last: fails the boot (cloud-init status: error) unless everything above really happened, and only
		// then says ready.
		[]string{"sh", "-c", strings.Join(shellQuote(ready), " ") + " && echo '" + ReadyMessage + "'"})

	doc, err := cloudinit.Render(cloudinit.Config{
		Users:          users,
		SSHPwauth:      cloudinit.Bool(false), // the drop-in above decides, per user
		DisableRoot:    cloudinit.Bool(true),
		PackageUpdate:  true,
		PackageUpgrade: true,
		Packages:       packages,
		WriteFiles: []cloudinit.WriteFile{
			// Not deferred: it must be in place when cloud-init restarts sshd after creating the users.
			{Path: SSHDDropInPath, Content: RenderSSHDConfig(pwUsers), Permissions: "0644"},
			{Path: s3Path, Content: compactScript(s3Script), Permissions: "0755"},
		},
		RunCmd:       runCmd,
		FinalMessage: FinalMessage,
	})
	if err != nil {
		return Rendered{}, err
	}
	return Rendered{UserData: doc, Files: files, Bundle: bundle}, nil
}

// UserDataBudget is what a host's user data may take: 80% of EC2's 16,384 bytes, the rest is room to grow.
const UserDataBudget = 16384 * 8 / 10

// DeployKeyOptions restrict Jenkins' key on the admin account to deploy.sh's `ssh` command, which reads
// SSH_ORIGINAL_COMMAND and allows only `deploy IMAGE`, `rollback` and `status`.
const DeployKeyOptions = `restrict,command="` + DeployScriptPath + ` ssh"`

// renderJail is the fail2ban jail: it never bans the admin CIDRs, which are also a classroom's shared NAT address
// (five typos would lock the whole class out).
func renderJail(adminCidrs []string) string {
	return fail2banJail + "ignoreip = " + strings.Join(append([]string{"127.0.0.1/8", "::1"}, adminCidrs...), " ") + "\n"
}

// compactScript drops a script's comment lines and blank lines for the user data, where every byte counts
// against EC2's limit; files/ keeps the commented source. Only whole-line comments go (never a #! line, never text
// after code), and the scripts put nothing that starts with # inside a heredoc.
func compactScript(script string) string {
	var b strings.Builder
	for i, line := range strings.SplitAfter(script, "\n") {
		trimmed := strings.TrimSpace(line)
		if (i > 0 && strings.HasPrefix(trimmed, "#")) || trimmed == "" {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// shellQuote quotes each word for sh: the ready check runs in `sh -c` to print the message only on success.
func shellQuote(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return out
}

var bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// renderSwitchRestoreUnit is the oneshot that runs `deploy.sh restore` at boot as the admin, who owns the state
// directory and runs nft through sudo -n, after docker has brought the colours back.
func renderSwitchRestoreUnit(admin string) string {
	return `[Unit]
Description=deploylab: point the nft switch at the live colour (the kernel forgets the rule on reboot)
Wants=docker.service nginx.service
After=docker.service nginx.service

[Service]
Type=oneshot
User=` + admin + `
Environment=DEPLOYLAB_ENV_FILE=` + DeployEnvPath + `
ExecStart=` + DeployScriptPath + ` restore

[Install]
WantedBy=multi-user.target
`
}

// linuxUser is one cloud-init user. Sudo users also join docker (root-equivalent anyway, and deploy.sh needs it).
func linuxUser(name string, keys []string, sudo bool, hash string) cloudinit.User {
	u := cloudinit.User{Name: name, Shell: "/bin/bash", SSHAuthorizedKeys: keys, LockPasswd: cloudinit.Bool(hash == ""), HashedPasswd: hash}
	if sudo {
		u.Sudo = SudoRule
		u.Groups = []string{"docker"}
	}
	return u
}

package apphost

import (
	_ "embed" // host-side files installed by the user data
	"errors"
	"fmt"
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
	// SudoRule is what cloud-init writes after the user name into /etc/sudoers.d/90-cloud-init-users.
	SudoRule = "ALL=(ALL) NOPASSWD:ALL"
	// FinalMessage ends every boot log; the boot test waits for it.
	FinalMessage = "deploylab app host ready after $UPTIME seconds"
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
	// ECRRegistry is the registry host of HostArgs.ECRRepositoryURL; empty for none.
	ECRRegistry string
}

// ALBTargets are the resolved ARNs of an ALBSwitch.
type ALBTargets struct{ Listener, Blue, Green string }

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
MaxAuthTries 3
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
func RenderDeployEnv(a HostArgs, alb *ALBTargets) string {
	sw := "nft"
	if alb != nil {
		sw = "alb"
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
		// The check stays local: it works before DNS and the certificate exist.
		{"PUBLIC_URL", "http://127.0.0.1"},
		{"SWITCH", sw},
		{"STATE_DIR", StateDir + "/" + a.AppName},
	}
	if alb == nil {
		lines = append(lines, [2]string{"SWITCH_PORT", strconv.Itoa(SwitchPort)}, [2]string{"NFT", "sudo -n /usr/sbin/nft"})
	} else {
		lines = append(lines, [2]string{"LISTENER_ARN", alb.Listener}, [2]string{"TG_BLUE_ARN", alb.Blue}, [2]string{"TG_GREEN_ARN", alb.Green})
	}
	var b strings.Builder
	b.WriteString("# Managed by deploylab (cloud-init). Read by " + DeployScriptPath + ".\n")
	for _, l := range lines {
		b.WriteString(l[0] + "=" + l[1] + "\n")
	}
	return b.String()
}

// RenderUserData returns the #cloud-config document of the host. It is pure: the same arguments always give the
// same document, which is what keeps `pulumi up` from replacing the host when nothing changed.
func RenderUserData(u UserDataArgs) (string, error) {
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
	if err := errors.Join(errs...); err != nil {
		return "", fmt.Errorf("apphost user data: %w", err)
	}

	serverName := a.Domain // "" becomes nginx's catch-all
	site, err := nginxsite.Render(nginxsite.Args{ServerName: serverName, UpstreamFile: UpstreamFile, ListenPort: 80})
	if err != nil {
		return "", fmt.Errorf("apphost user data: nginx site: %w", err)
	}

	adminKeys := append([]string(nil), a.SSHPublicKeys...)
	if u.DeployKey != "" {
		adminKeys = append(adminKeys, u.DeployKey)
	}
	users := []cloudinit.User{linuxUser(a.AdminUser, adminKeys, true, u.PasswordHashes[a.AdminUser])}
	for _, x := range a.ExtraUsers {
		users = append(users, linuxUser(x.Name, x.SSHPublicKeys, x.Sudo, u.PasswordHashes[x.Name]))
	}

	img := images[a.Image]
	packages := []string{"ca-certificates", "curl", "lsof", "nginx", "docker.io", img.composePackage}
	owner := a.AdminUser + ":" + a.AdminUser
	// nginx proxies to the switch port from the start (SWITCH=nft); with an ALB, which targets the colours'
	// ports itself, the host's nginx keeps pointing at blue.
	firstUpstream := SwitchPort
	if u.ALB != nil {
		firstUpstream = a.BluePort
	}
	files := []cloudinit.WriteFile{
		// Not deferred: it must be in place when cloud-init restarts sshd after creating the users.
		{Path: SSHDDropInPath, Content: RenderSSHDConfig(pwUsers), Permissions: "0644"},
		// The rest is deferred: written after the packages and users exist (owners, package directories).
		{Path: DeployScriptPath, Content: scripts.DeployScript, Permissions: "0755", Defer: true},
		{Path: DeployEnvPath, Content: RenderDeployEnv(a, u.ALB), Permissions: "0644", Defer: true},
		{Path: SitePath, Content: site, Permissions: "0644", Defer: true},
		{Path: UpstreamFile, Content: nginxsite.Upstream(firstUpstream), Owner: owner, Permissions: "0644", Defer: true},
		{Path: ssmScriptPath, Content: ssmScript, Permissions: "0755", Defer: true},
	}
	run := [][]string{
		{"systemctl", "try-reload-or-restart", "ssh.service"},
		{"install", "-d", "-o", a.AdminUser, "-g", a.AdminUser, "-m", "0755", UpstreamDir, StateDir},
		{"rm", "-f", "/etc/nginx/sites-enabled/default"},
		{"ln", "-sf", SitePath, "/etc/nginx/sites-enabled/deploylab"},
		{"nginx", "-t"},
		{"systemctl", "reload-or-restart", "nginx.service"},
		{"systemctl", "enable", "--now", "docker.service"},
	}
	if len(pwUsers) > 0 {
		packages = append(packages, "fail2ban", "python3-systemd")
		files = append(files, cloudinit.WriteFile{Path: "/etc/fail2ban/jail.d/deploylab-sshd.local", Content: fail2banJail, Permissions: "0644", Defer: true})
		run = append(run, []string{"systemctl", "restart", "fail2ban.service"})
	}
	if a.Domain != "" {
		packages = append(packages, "certbot", "python3-certbot-nginx")
		staging := "0"
		if a.CertbotStaging {
			staging = "1"
		}
		files = append(files,
			cloudinit.WriteFile{Path: certbotEnvPath, Permissions: "0644", Defer: true,
				Content: "DOMAIN=" + a.Domain + "\nCERTBOT_EMAIL=" + a.CertbotEmail + "\nCERTBOT_STAGING=" + staging + "\n"},
			cloudinit.WriteFile{Path: certbotScriptPath, Content: certbotScript, Permissions: "0755", Defer: true},
			cloudinit.WriteFile{Path: "/etc/systemd/system/deploylab-certbot.service", Content: certbotService, Permissions: "0644", Defer: true},
			cloudinit.WriteFile{Path: "/etc/systemd/system/deploylab-certbot.timer", Content: certbotTimer, Permissions: "0644", Defer: true},
		)
		run = append(run, []string{"systemctl", "daemon-reload"}, []string{"systemctl", "enable", "--now", "deploylab-certbot.timer"})
	}
	if u.ALB != nil {
		packages = append(packages, "awscli") // deploy.sh SWITCH=alb calls elbv2 describe-target-health / modify-listener
	} else {
		// SWITCH=nft: the NAT rule lives in the kernel; the unit puts it back at every boot (enabled now, it
		// first runs at the next boot: before the first deploy there is nothing to restore).
		packages = append(packages, "nftables")
		files = append(files, cloudinit.WriteFile{Path: "/etc/systemd/system/" + switchRestoreUnit,
			Content: renderSwitchRestoreUnit(a.AdminUser), Permissions: "0644", Defer: true})
		run = append(run, []string{"systemctl", "daemon-reload"}, []string{"systemctl", "enable", switchRestoreUnit})
	}
	if u.ECRRegistry != "" {
		// docker asks the helper for this registry's credentials; the helper uses the instance role.
		packages = append(packages, "amazon-ecr-credential-helper")
		dockerConfig := `{"credHelpers": {"` + u.ECRRegistry + `": "ecr-login"}}` + "\n"
		files = append(files,
			cloudinit.WriteFile{Path: "/root/.docker/config.json", Content: dockerConfig, Permissions: "0600", Defer: true},
			cloudinit.WriteFile{Path: "/home/" + a.AdminUser + "/.docker/config.json", Content: dockerConfig, Owner: owner, Permissions: "0600", Defer: true})
	}
	// Last and best effort: the host is useful without the SSM agent, so a failed download is logged, not fatal.
	run = append(run, []string{"sh", "-c", ssmScriptPath + " || echo 'deploylab: SSM agent not installed, see above' >&2"})

	return cloudinit.Render(cloudinit.Config{
		Users:          users,
		SSHPwauth:      cloudinit.Bool(false), // the drop-in above decides, per user
		DisableRoot:    cloudinit.Bool(true),
		PackageUpdate:  true,
		PackageUpgrade: true,
		Packages:       packages,
		WriteFiles:     files,
		RunCmd:         run,
		FinalMessage:   FinalMessage,
	})
}

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

package apphost

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/deploylab/deploylab/internal/cloudinit"
	"github.com/deploylab/deploylab/internal/shacrypt"
	"github.com/deploylab/deploylab/internal/testutil"
	"github.com/stretchr/testify/assert"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	adminKey   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0cGFydGVzdGtleWZvcmRlcGxveWxhYmFkbWlu admin@laptop"
	studentKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHN0dWRlbnRrZXlmb3JkZXBsb3lsYWJzdHVkZW50MQ student@class"
	jenkinsKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGplbmtpbnNkZXBsb3lrZXlmb3JkZXBsb3lsYWJhcHBo jenkins"
)

// hashFor is a fixed hash so the golden files are stable; the password never appears in them.
func hashFor(t testing.TB, password, salt string) string {
	t.Helper()
	h, err := shacrypt.Hash(password, salt)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

const goldenBucket = "deploylab-web-files-0123456789"

// variants are the user data shapes the stacks produce: the default host, password login for the admin and a
// student, a domain with certbot, the Ubuntu image, and everything at once on each image (ALB, ECR, Jenkins,
// passwords, admin CIDRs, kubectl): the largest user data a stack can make.
func variants(t testing.TB) map[string]UserDataArgs {
	alb := &ALBTargets{Listener: "arn:aws:elasticloadbalancing:eu-central-1:111122223333:listener/app/alb/50dc6c495c0c9188/f2f7dc8efc522ab2",
		Blue:    "arn:aws:elasticloadbalancing:eu-central-1:111122223333:targetgroup/blue/73e2d6bc24d8a067",
		Green:   "arn:aws:elasticloadbalancing:eu-central-1:111122223333:targetgroup/green/73e2d6bc24d8a068",
		DNSName: "alb-1234567890.eu-central-1.elb.amazonaws.com"}
	hashes := map[string]string{
		"deploy": hashFor(t, "golden-admin-password", "goldenSaltAdmin0"),
		"alice":  hashFor(t, "golden-alice-password", "goldenSaltAlice0"),
	}
	full := func(image string) UserDataArgs {
		return UserDataArgs{Host: HostArgs{Image: image, SSHPublicKeys: []string{adminKey, studentKey}, PasswordAuth: true,
			AdminCidrs: []string{"198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"},
			ExtraUsers: []User{{Name: "alice", PasswordAuth: true, SSHPublicKeys: []string{studentKey}, Sudo: true}}, Kubectl: true},
			DeployKey: jenkinsKey, PasswordHashes: hashes, ALB: alb, ECRRepository: "111122223333.dkr.ecr.eu-central-1.amazonaws.com/jenkins-app-1a2b3c"}
	}
	v := map[string]UserDataArgs{
		"default": {Host: HostArgs{SSHPublicKeys: []string{adminKey}}, DeployKey: jenkinsKey},
		"password": {
			Host: HostArgs{SSHPublicKeys: []string{adminKey}, PasswordAuth: true, AdminCidrs: []string{"198.51.100.0/24"},
				ExtraUsers: []User{{Name: "alice", PasswordAuth: true, SSHPublicKeys: []string{studentKey}}, {Name: "bob", SSHPublicKeys: []string{studentKey}}}},
			PasswordHashes: hashes,
		},
		"domain": {Host: HostArgs{SSHPublicKeys: []string{adminKey}, Domain: "app.example.com", CertbotEmail: "ops@example.com", CertbotStaging: true,
			AppName: "shop", HealthPath: "/healthz", BluePort: 9001, GreenPort: 9002, AppPort: 3000}},
		"ubuntu":      {Host: HostArgs{Image: "ubuntu-24.04", AdminUser: "ops", SSHPublicKeys: []string{adminKey}}},
		"full-debian": full("debian-12"),
		"full-ubuntu": full("ubuntu-24.04"),
	}
	for name, u := range v {
		u.FilesBucket, u.HostKey = goldenBucket, true
		v[name] = u
	}
	return v
}

// TestUserDataGolden renders every variant, compares it with testdata/<variant>.yaml (go test -update rewrites
// them) and runs the real `cloud-init schema` on it.
func TestUserDataGolden(t *testing.T) {
	t.Parallel()
	for name, args := range variants(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, err := RenderUserData(args)
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join("testdata", "userdata-"+name+".yaml"), r.UserData)
			compareGolden(t, filepath.Join("testdata", "files-"+name+".txt"), listFiles(r.Files))
			testutil.CheckCloudInitSchema(t, r.UserData)
			if strings.Contains(r.UserData+listFiles(r.Files), "golden-") {
				t.Error("a plain password reached the user data or the files")
			}
		})
	}
}

func compareGolden(t *testing.T, golden, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./components/apphost -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update and review the diff):\n%s", golden, got)
	}
}

// listFiles shows the bundle's files for a golden file; deploy.sh is named, not copied (scripts/ has its own tests).
func listFiles(files []cloudinit.WriteFile) string {
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "==> %s (%s, %s)\n", f.Path, f.Permissions, f.Owner)
		if f.Path == DeployScriptPath {
			b.WriteString("[scripts/deploy.sh]\n")
			continue
		}
		b.WriteString(f.Content)
	}
	return b.String()
}

// TestUserDataContent checks the properties that matter on the document itself, parsed as YAML.
func TestUserDataContent(t *testing.T) {
	t.Parallel()
	type doc struct {
		Users []struct {
			Name   string   `yaml:"name"`
			Sudo   string   `yaml:"sudo"`
			Groups []string `yaml:"groups"`
			Lock   *bool    `yaml:"lock_passwd"`
			Hash   string   `yaml:"hashed_passwd"`
			Keys   []string `yaml:"ssh_authorized_keys"`
		} `yaml:"users"`
		Packages   []string `yaml:"packages"`
		WriteFiles []struct {
			Path, Content, Owner, Permissions string
		} `yaml:"write_files"`
		RunCmd string `yaml:"-"` // the whole document, to look for commands
	}
	parse := func(t *testing.T, name string) doc {
		r, err := RenderUserData(variants(t)[name])
		if err != nil {
			t.Fatal(err)
		}
		var d doc
		if err := yaml.Unmarshal([]byte(r.UserData), &d); err != nil {
			t.Fatal(err)
		}
		// The bundle's files count as written: the host unpacks them before anything reads them.
		for _, f := range r.Files {
			d.WriteFiles = append(d.WriteFiles, struct{ Path, Content, Owner, Permissions string }{f.Path, f.Content, f.Owner, f.Permissions})
		}
		d.RunCmd = r.UserData
		return d
	}
	file := func(d doc, path string) (string, string, string, bool) {
		for _, f := range d.WriteFiles {
			if f.Path == path {
				return f.Content, f.Owner, f.Permissions, true
			}
		}
		return "", "", "", false
	}

	t.Run("default", func(t *testing.T) {
		d := parse(t, "default")
		if len(d.Users) != 1 || d.Users[0].Name != "deploy" || d.Users[0].Sudo != "ALL=(ALL) NOPASSWD:ALL" ||
			strings.Join(d.Users[0].Groups, ",") != "docker" || d.Users[0].Lock == nil || !*d.Users[0].Lock || d.Users[0].Hash != "" {
			t.Errorf("admin user = %+v; want deploy, passwordless sudo, docker, locked password", d.Users)
		}
		if strings.Join(d.Users[0].Keys, "|") != adminKey+`|restrict,command="/usr/local/bin/deploy.sh ssh" `+jenkinsKey {
			t.Errorf("admin keys = %q; want the admin key and the deploy key restricted to deploy.sh ssh", d.Users[0].Keys)
		}
		if c, _, perm, ok := file(d, DockerDaemonPath); !ok || perm != "0644" ||
			!strings.Contains(c, `"live-restore": true`) || !strings.Contains(c, `"max-size": "10m"`) || !strings.Contains(c, `"log-driver": "json-file"`) {
			t.Errorf("daemon.json (%v):\n%s", ok, c)
		}
		for _, p := range []string{"docker.io", "docker-compose", "nginx"} {
			if !contains(d.Packages, p) {
				t.Errorf("packages %v lack %s", d.Packages, p)
			}
		}
		for _, p := range []string{"fail2ban", "certbot"} {
			if contains(d.Packages, p) {
				t.Errorf("packages %v have %s without password login or domain", d.Packages, p)
			}
		}
		if c, _, perm, ok := file(d, DeployScriptPath); !ok || perm != "0755" || !strings.HasPrefix(c, "#!/usr/bin/env bash") {
			t.Errorf("deploy.sh: installed %v, permissions %q", ok, perm)
		}
		env, _, perm, _ := file(d, DeployEnvPath)
		for _, kv := range []string{"APP_NAME=app\n", "BLUE_PORT=8081\n", "GREEN_PORT=8082\n", "APP_PORT=8080\n",
			"HEALTH_PATH=/actuator/health/readiness\n", "NGINX_UPSTREAM_FILE=/etc/nginx/deploylab/upstream.conf\n",
			"NGINX_TEST_CMD=sudo -n /usr/sbin/nginx -t -q\n", "NGINX_RELOAD_CMD=sudo -n /usr/bin/systemctl reload nginx\n",
			"PUBLIC_URL=http://127.0.0.1\n", "SWITCH=nft\n", "SWITCH_PORT=8090\n", "NFT=sudo -n /usr/sbin/nft\n"} {
			if !strings.Contains(env, kv) || perm != "0644" {
				t.Errorf("deploy.env (%s) lacks %q:\n%s", perm, kv, env)
			}
		}
		if up, owner, _, _ := file(d, UpstreamFile); owner != "deploy:deploy" || !strings.Contains(up, "server 127.0.0.1:8090;") {
			t.Errorf("upstream include owned by %q:\n%s", owner, up)
		}
	})
	t.Run("password", func(t *testing.T) {
		d := parse(t, "password")
		byName := map[string]int{}
		for i, u := range d.Users {
			byName[u.Name] = i
		}
		alice, bob := d.Users[byName["alice"]], d.Users[byName["bob"]]
		if alice.Hash == "" || alice.Lock == nil || *alice.Lock || alice.Sudo != "" {
			t.Errorf("alice = %+v; want a hash, unlocked, no sudo", alice)
		}
		if bob.Hash != "" || bob.Lock == nil || !*bob.Lock {
			t.Errorf("bob = %+v; want no password", bob)
		}
		if !contains(d.Packages, "fail2ban") {
			t.Errorf("password login without fail2ban: %v", d.Packages)
		}
		jail, _, _, _ := file(d, "/etc/fail2ban/jail.d/deploylab-sshd.local")
		if !strings.Contains(jail, "backend = systemd") || !strings.Contains(jail, "enabled = true") ||
			!strings.HasSuffix(jail, "\nignoreip = 127.0.0.1/8 ::1 198.51.100.0/24\n") {
			t.Errorf("fail2ban jail:\n%s", jail)
		}
		if c, _, _, _ := file(d, SSHDDropInPath); !strings.Contains(c, "Match User deploy,alice\n") {
			t.Errorf("sshd drop-in:\n%s", c)
		}
	})
	t.Run("domain", func(t *testing.T) {
		d := parse(t, "domain")
		for _, p := range []string{"certbot", "python3-certbot-nginx"} {
			if !contains(d.Packages, p) {
				t.Errorf("packages %v lack %s", d.Packages, p)
			}
		}
		env, _, _, _ := file(d, "/etc/deploylab/certbot.env")
		if env != "DOMAIN=app.example.com\nCERTBOT_EMAIL=ops@example.com\nCERTBOT_STAGING=1\nFILES_BUCKET="+goldenBucket+"\n" {
			t.Errorf("certbot.env:\n%s", env)
		}
		if site, _, _, _ := file(d, SitePath); !strings.Contains(site, "server_name app.example.com;") {
			t.Errorf("site:\n%s", site)
		}
	})
	t.Run("ubuntu", func(t *testing.T) {
		d := parse(t, "ubuntu")
		if !contains(d.Packages, "docker-compose-v2") || contains(d.Packages, "docker-compose") {
			t.Errorf("ubuntu packages %v: want docker-compose-v2", d.Packages)
		}
	})
	t.Run("alb", func(t *testing.T) {
		for name, cli := range map[string]string{"full-debian": "awscli", "full-ubuntu": "snap install aws-cli"} {
			d := parse(t, name)
			if !contains(d.Packages, cli) && !strings.Contains(d.RunCmd, "- snap\n") {
				t.Errorf("%s: no AWS CLI (%s)", name, cli)
			}
			env, _, _, _ := file(d, DeployEnvPath)
			for _, kv := range []string{"SWITCH=alb\n", "PUBLIC_URL=http://alb-1234567890.eu-central-1.elb.amazonaws.com\n", "PUBLISH_ADDRESS=0.0.0.0\n"} {
				if !strings.Contains(env, kv) {
					t.Errorf("%s: ALB deploy.env lacks %q:\n%s", name, kv, env)
				}
			}
			if _, owner, _, ok := file(d, "/home/deploy/.docker/config.json"); !ok || owner != "deploy:deploy" {
				t.Errorf("%s: the admin's docker config is owned by %q", name, owner)
			}
		}
		if d := parse(t, "full-ubuntu"); contains(d.Packages, "awscli") {
			t.Errorf("ubuntu-24.04 names awscli, which noble does not have: %v", d.Packages)
		}
	})
	t.Run("kubectl", func(t *testing.T) {
		d := parse(t, "full-debian")
		if c, _, perm, ok := file(d, kubectlPath); !ok || perm != "0755" || c != kubectlScript {
			t.Errorf("kubectl installer: in the bundle %v, permissions %q", ok, perm)
		}
		var run struct {
			RunCmd [][]string `yaml:"runcmd"`
		}
		if err := yaml.Unmarshal([]byte(d.RunCmd), &run); err != nil {
			t.Fatal(err)
		}
		ready := run.RunCmd[len(run.RunCmd)-1]
		if !strings.Contains(d.RunCmd, "- "+kubectlPath+"\n    - "+KubectlMinor+"\n    - "+KubernetesKeyFingerprint+"\n") ||
			!strings.Contains(ready[len(ready)-1], " 'kubectl' ") || !contains(d.Packages, "gpg") {
			t.Errorf("kubectl not installed from the pinned repository and required by the ready check:\n%s", d.RunCmd)
		}
		if d := parse(t, "default"); strings.Contains(d.RunCmd, kubectlPath) {
			t.Error("kubectl on a host that did not ask for it")
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestSSHDEffective runs the real sshd: -t on a config laid out like Debian's and Ubuntu's (drop-ins included on
// the first line, cloud-init's and Ubuntu's drop-ins present and trying to turn password login on), then -T per
// user, asserting the settings sshd would really apply.
func TestSSHDEffective(t *testing.T) {
	t.Parallel()
	sshd := mustTool(t, "sshd", "/usr/sbin/sshd", "openssh-server")
	keygen := mustTool(t, "ssh-keygen", "/usr/bin/ssh-keygen", "openssh-client")
	// sshd -t refuses to run without its privilege separation directory, which the package creates at start.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", hostKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	dropins := filepath.Join(dir, "sshd_config.d")
	write := func(path, content string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dropins, "00-deploylab.conf"), RenderSSHDConfig([]string{"deploy", "alice"}))
	write(filepath.Join(dropins, "50-cloud-init.conf"), "PasswordAuthentication yes\n")
	write(filepath.Join(dropins, "60-cloudimg-settings.conf"), "PasswordAuthentication no\n")
	config := filepath.Join(dir, "sshd_config")
	write(config, "Include "+dropins+"/*.conf\nPermitRootLogin yes\nPasswordAuthentication yes\nMaxAuthTries 6\nUsePAM yes\nSubsystem sftp /usr/lib/openssh/sftp-server\n")

	if out, err := exec.Command(sshd, "-t", "-f", config, "-h", hostKey).CombinedOutput(); err != nil {
		t.Fatalf("sshd -t: %v\n%s", err, out)
	}
	for _, tc := range []struct{ user, password string }{
		{"deploy", "yes"}, {"alice", "yes"}, {"bob", "no"}, {"root", "no"}, {"alice2", "no"},
	} {
		out, err := exec.Command(sshd, "-T", "-f", config, "-h", hostKey, "-C", "user="+tc.user+",addr=203.0.113.7,host=client.example").CombinedOutput()
		if err != nil {
			t.Fatalf("sshd -T for %s: %v\n%s", tc.user, err, out)
		}
		for key, want := range map[string]string{
			"passwordauthentication": tc.password, "permitrootlogin": "no", "maxauthtries": "6",
			"kbdinteractiveauthentication": "no",
		} {
			if got := sshdValue(string(out), key); got != want {
				t.Errorf("user %s: %s = %q, want %q", tc.user, key, got, want)
			}
		}
	}
}

func sshdValue(out, key string) string {
	m := regexp.MustCompile(`(?m)^` + key + ` (.*)$`).FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestSudoersLine checks the rule cloud-init writes with the real visudo.
func TestSudoersLine(t *testing.T) {
	t.Parallel()
	visudo := mustTool(t, "visudo", "/usr/sbin/visudo", "sudo")
	path := filepath.Join(t.TempDir(), "90-cloud-init-users")
	if err := os.WriteFile(path, []byte(SudoersLine("deploy")+"\n"), 0o440); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(visudo, "-cf", path).CombinedOutput(); err != nil {
		t.Fatalf("visudo -cf: %v\n%s", err, out)
	}
}

// TestHostScripts runs shellcheck on the scripts the user data installs (deploy.sh is checked where it lives).
func TestHostScripts(t *testing.T) {
	t.Parallel()
	shellcheck := mustTool(t, "shellcheck", "/usr/bin/shellcheck", "shellcheck")
	out, err := exec.Command(shellcheck, "files/deploylab-certbot.sh", "files/deploylab-ssm-agent.sh",
		"files/deploylab-s3.sh", "files/deploylab-ready.sh", "files/deploylab-kubectl.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("shellcheck: %v\n%s", err, out)
	}
}

// mustTool finds a tool or fails: make test installs the package, and a missing tool never skips.
func mustTool(t *testing.T, name, fallback, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback
	}
	t.Fatalf("%s not found (apt-get install %s; make test installs it)", name, pkg)
	return ""
}

// TestDeployEnvThroughTheALB: with an ALB, deploy.sh verifies through its DNS name; with a certificate over HTTPS
// (the HTTP listener only redirects, and curl does not follow a 301) without checking the certificate's name,
// which is the site's, never the ALB's.
func TestDeployEnvThroughTheALB(t *testing.T) {
	t.Parallel()
	host := HostArgs{}.withDefaults()
	targets := ALBTargets{Listener: "arn:aws:elasticloadbalancing:eu-central-1:111122223333:listener/app/alb/1/2",
		Blue: "arn:aws:elasticloadbalancing:eu-central-1:111122223333:targetgroup/blue/1", Green: "arn:aws:elasticloadbalancing:eu-central-1:111122223333:targetgroup/green/2",
		DNSName: "alb-1.eu-central-1.elb.amazonaws.com"}
	for _, tc := range []struct {
		https         bool
		url, insecure string
	}{
		{false, "PUBLIC_URL=http://alb-1.eu-central-1.elb.amazonaws.com\n", ""},
		{true, "PUBLIC_URL=https://alb-1.eu-central-1.elb.amazonaws.com\n", "PUBLIC_INSECURE=1\n"},
	} {
		alb := targets
		alb.HTTPS = tc.https
		env := RenderDeployEnv(host, &alb, "")
		assert.Contains(t, env, tc.url)
		assert.Contains(t, env, "SWITCH=alb\n")
		if tc.insecure == "" {
			assert.NotContains(t, env, "PUBLIC_INSECURE")
		} else {
			assert.Contains(t, env, tc.insecure)
		}
	}
	local := RenderDeployEnv(host, nil, "")
	assert.NotContains(t, local, "PUBLIC_INSECURE", "the local check keeps curl's certificate checks")
	assert.NotContains(t, local, "SSH_IMAGE_REPOSITORY", "without a repository the key may deploy any image")
	repo := "111122223333.dkr.ecr.eu-central-1.amazonaws.com/jenkins-app-1a2b3c"
	assert.Contains(t, RenderDeployEnv(host, nil, repo), "SSH_IMAGE_REPOSITORY="+repo+"\n")
}

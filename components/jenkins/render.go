package jenkins

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"

	"github.com/deploylab/deploylab/components/apphost"
	"github.com/deploylab/deploylab/internal/cloudinit"
	pipelines "github.com/deploylab/deploylab/jenkins"
)

// JenkinsImage is the pinned Jenkins LTS base image: 2.568.2, the newest LTS in jenkinsci/docker (tag 2.568.2,
// docker-bake.hcl: JDK 21 is the default, JDK 17 images are no longer built). Pinned to a release, not the moving
// `lts-jdk21` tag, so a re-created controller runs the core jenkins/plugins.lock was resolved against; bump both
// together (docs/operations.md, "Upgrade Jenkins").
const JenkinsImage = "jenkins/jenkins:2.568.2-lts-jdk21"

// Fixed host layout. The container runs as the image's own jenkins user, moved to jenkinsUID by the derived image
// (RenderDockerfile): it keeps its passwd entry and HOME=/var/jenkins_home, which ssh, git and docker login need,
// while the uid stays above the host's login range (the Debian AMI's admin user is uid 1000, the image's default).
const (
	jenkinsUID       = 10000
	jenkinsHomeDir   = "/srv/jenkins_home"
	homeDeviceName   = "/dev/sdf"
	localImage       = "deploylab/jenkins:local"
	deployCredential = "deploy-ssh"
	gitHubCredential = "github"
)

var (
	//go:embed files/jenkins-setup.sh
	setupScript string
	//go:embed files/jenkins-secrets.sh
	secretsScript string
	//go:embed files/jenkins-run.sh
	runScript string
	//go:embed files/jenkins-certbot.sh
	certbotScript string
	//go:embed files/nginx-site.conf.tmpl
	nginxSiteTemplate string
	//go:embed files/jobs.groovy.tmpl
	jobsTemplate string
)

// HostConfig is everything the controller's user data depends on. It holds parameter NAMES, never secret values:
// the host reads the values from SSM at boot.
type HostConfig struct {
	AdminPasswordParameter string
	DeployKeyParameter     string
	GitHubTokenParameter   string
	HomeVolumeID           string
	PublicIP               string
	Executors              int
	AppRepo, Branch        string
	BuildTool              string
	RepositoryURL          string
	DeployHost, DeployUser string
	// AgentKeyParameter names the SecureString of the key the controller launches the build agent with.
	AgentKeyParameter string
	// AgentHost is the build agent's private address; AgentHostKey its public host key, pinned by the launcher.
	AgentHost, AgentHostKey string
	// PromoteFrom is the ECR repository the app-promote job copies images from; empty: app-deploy builds them.
	PromoteFrom          string
	Domain, CertbotEmail string
	CertbotStaging       bool
	AdminCidrs           []string
}

// URL is where users open Jenkins: through nginx with TLS when a domain is set, else straight on port 8080.
func (h HostConfig) URL() string {
	if h.Domain != "" {
		return "https://" + h.Domain + "/"
	}
	return "http://" + h.PublicIP + ":8080/"
}

// RenderUserData returns the controller's #cloud-config. Pure: the same HostConfig gives the same document.
func RenderUserData(h HostConfig) (string, error) {
	casc, err := RenderCasc(h)
	if err != nil {
		return "", err
	}
	publish := "0.0.0.0:8080"
	packages := []string{"docker.io", "awscli", "curl"}
	if h.Domain != "" {
		// nginx terminates TLS; Jenkins listens on loopback only.
		publish = "127.0.0.1:8080"
		packages = append(packages, "nginx", "certbot", "python3-certbot-nginx")
	}
	env := strings.Join([]string{
		"# Written by cloud-init (deploylab). No secret here: the secrets are read from SSM at every start.",
		"JENKINS_UID=" + strconv.Itoa(jenkinsUID),
		"JENKINS_HOME_DIR=" + jenkinsHomeDir,
		"JENKINS_IMAGE=" + localImage,
		"JENKINS_PUBLISH=" + publish,
		"HOME_VOLUME_ID=" + shellQuote(h.HomeVolumeID),
		"HOME_DEVICE_NAME=" + homeDeviceName,
		"ADMIN_PASSWORD_PARAMETER=" + shellQuote(h.AdminPasswordParameter),
		"DEPLOY_KEY_PARAMETER=" + shellQuote(h.DeployKeyParameter),
		"GITHUB_TOKEN_PARAMETER=" + shellQuote(h.GitHubTokenParameter),
		"AGENT_KEY_PARAMETER=" + shellQuote(h.AgentKeyParameter),
		"GITHUB_TOKEN_PLACEHOLDER=" + shellQuote(gitHubTokenPlaceholder),
		"DOMAIN=" + shellQuote(h.Domain),
		"CERTBOT_EMAIL=" + shellQuote(h.CertbotEmail),
		"CERTBOT_STAGING=" + strconv.FormatBool(h.CertbotStaging),
	}, "\n") + "\n"

	pipelineFile, pipeline := "Jenkinsfile.deploy", pipelines.DeployPipeline
	if h.PromoteFrom != "" {
		pipelineFile, pipeline = "Jenkinsfile.promote", pipelines.PromotePipeline
	}
	files := []cloudinit.WriteFile{
		{Path: "/etc/jenkins/jenkins.env", Content: env, Permissions: "0644"},
		{Path: "/etc/jenkins/image/Dockerfile", Content: RenderDockerfile(), Permissions: "0644"},
		{Path: "/etc/jenkins/image/plugins.txt", Content: pipelines.Plugins, Permissions: "0644"},
		{Path: "/etc/jenkins/casc/jenkins.yaml", Content: casc, Permissions: "0644"},
		{Path: "/etc/jenkins/casc/" + pipelineFile, Content: pipeline, Permissions: "0644"},
		{Path: "/usr/local/sbin/jenkins-setup", Content: setupScript, Permissions: "0755"},
		{Path: "/usr/local/sbin/jenkins-secrets", Content: secretsScript, Permissions: "0755"},
		{Path: "/usr/local/sbin/jenkins-run", Content: runScript, Permissions: "0755"},
		{Path: "/etc/systemd/system/jenkins.service", Content: jenkinsUnit, Permissions: "0644"},
		// Debian AMIs ship no SSM agent: the app host's installer, shared, so Session Manager reaches Jenkins too.
		{Path: apphost.SSMAgentPath, Content: apphost.SSMAgentScript(), Permissions: "0755"},
	}
	runcmd := [][]string{
		// Best effort, as on the app host: Jenkins works without it, the log says why it is missing.
		{"sh", "-c", apphost.SSMAgentPath + " || echo 'deploylab: SSM agent not installed, see above' >&2"},
		{"/usr/local/sbin/jenkins-setup"},
	}
	if h.Domain != "" {
		site, err := RenderNginxSite(h.Domain, h.AdminCidrs, "127.0.0.1:8080")
		if err != nil {
			return "", err
		}
		files = append(files,
			cloudinit.WriteFile{Path: "/usr/local/sbin/jenkins-certbot", Content: certbotScript, Permissions: "0755"},
			cloudinit.WriteFile{Path: "/etc/systemd/system/jenkins-certbot.service", Content: certbotService, Permissions: "0644"},
			cloudinit.WriteFile{Path: "/etc/systemd/system/jenkins-certbot.timer", Content: certbotTimer, Permissions: "0644"},
			// Deferred: the nginx package must exist first, or its install would see a foreign site.
			cloudinit.WriteFile{Path: "/etc/nginx/sites-available/jenkins", Content: site, Permissions: "0644", Defer: true},
		)
		runcmd = append([][]string{
			{"ln", "-sf", "/etc/nginx/sites-available/jenkins", "/etc/nginx/sites-enabled/jenkins"},
			{"rm", "-f", "/etc/nginx/sites-enabled/default"},
			{"nginx", "-t"},
			{"systemctl", "reload", "nginx"},
		}, runcmd...)
	}
	return cloudinit.Render(cloudinit.Config{
		PackageUpdate: true,
		Packages:      packages,
		WriteFiles:    files,
		RunCmd:        runcmd,
		FinalMessage:  "deploylab jenkins controller: cloud-init done after $UPTIME s",
	})
}

// renderCompressedUserData returns the user data gzipped and base64-encoded, as EC2's user_data_base64 takes it.
func renderCompressedUserData(h HostConfig) (string, error) {
	return compress(RenderUserData(h))
}

// compress gzips and base64-encodes a rendered document (passing a render error through).
func compress(doc string, err error) (string, error) {
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return "", err
	}
	if _, err := zw.Write([]byte(doc)); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// RenderDockerfile is the derived image built on the host: the pinned LTS core with the pinned plugins of
// plugins.txt (their dependencies at the minimum versions those releases require: --latest false, so a rebuild
// installs the resolved set, not whatever the update center serves that day). No docker or aws CLI: the
// pipelines run on the build agent. The image's jenkins user (uid 1000 upstream) is moved to jenkinsUID, so the process
// has a passwd entry and a writable HOME (/var/jenkins_home) at the uid that owns jenkins_home on the host.
func RenderDockerfile() string {
	uid := strconv.Itoa(jenkinsUID)
	return "FROM " + JenkinsImage + `
USER root
RUN groupmod --gid ` + uid + ` jenkins \
 && usermod --uid ` + uid + ` --gid ` + uid + ` jenkins \
 && chown -R jenkins:jenkins /var/jenkins_home /usr/share/jenkins/ref
USER jenkins
COPY --chown=jenkins:jenkins plugins.txt /usr/share/jenkins/ref/plugins.txt
RUN jenkins-plugin-cli --plugin-file /usr/share/jenkins/ref/plugins.txt --latest false --verbose
`
}

// RenderCasc returns the JCasC document. Secrets appear only as ${JENKINS_ADMIN_PASSWORD}, ${AGENT_SSH_KEY} and
// ${GITHUB_TOKEN}, which JCasC resolves from the files jenkins-secrets writes under /run/secrets. The deploy key
// is not here: it belongs to the deploy folder (RenderJobs), so jobs outside it cannot bind it.
func RenderCasc(h HostConfig) (string, error) {
	jobs, err := RenderJobs(h)
	if err != nil {
		return "", err
	}
	// The launcher refuses any other key, so a missing one would leave Jenkins with no node to build on.
	if h.AgentHost == "" || !hostKeyRe.MatchString(h.AgentHostKey) {
		return "", fmt.Errorf("jenkins: build agent %q with host key %q: want an address and an OpenSSH public key (ssh-ed25519 AAAA...)",
			h.AgentHost, h.AgentHostKey)
	}
	env := []map[string]string{
		{"key": "APP_REPO", "value": h.AppRepo},
		{"key": "APP_BRANCH", "value": h.Branch},
		{"key": "BUILD_TOOL", "value": h.BuildTool},
		{"key": "ECR_REPOSITORY", "value": h.RepositoryURL},
		{"key": "DEPLOY_HOST", "value": h.DeployHost},
		{"key": "DEPLOY_USER", "value": h.DeployUser},
	}
	if h.PromoteFrom != "" {
		env = append(env, map[string]string{"key": "PROMOTE_FROM", "value": h.PromoteFrom})
	}
	doc := map[string]any{
		"jenkins": map[string]any{
			"systemMessage": "deploylab Jenkins: configured as code (JCasC); changes made in the UI are lost at restart.",
			// No build on the controller: a build on the built-in node runs in the controller's JVM user with its
			// secrets and jenkins_home at hand. Every build goes to the agent (agent.go).
			"numExecutors": 0,
			"mode":         "EXCLUSIVE",
			"nodes":        []map[string]any{agentNode(h.AgentHost, h.AgentHostKey, h.Executors)},
			"securityRealm": map[string]any{"local": map[string]any{
				"allowsSignup": false,
				"users":        []map[string]string{{"id": "admin", "name": "admin", "password": "${JENKINS_ADMIN_PASSWORD}"}},
			}},
			"authorizationStrategy": map[string]any{"loggedInUsersCanDoAnything": map[string]any{"allowAnonymousRead": false}},
			"crumbIssuer":           map[string]any{"standard": map[string]any{"excludeClientIPFromCrumb": false}},
			"globalNodeProperties":  []map[string]any{{"envVars": map[string]any{"env": env}}},
		},
		"unclassified": map[string]any{"location": map[string]any{"url": h.URL()}},
		"credentials": map[string]any{"system": map[string]any{"domainCredentials": []map[string]any{{
			"credentials": []map[string]any{
				// SYSTEM: Jenkins itself launches the agent with it; no build can bind it.
				{"basicSSHUserPrivateKey": map[string]any{
					"scope":            "SYSTEM",
					"id":               agentCredential,
					"username":         agentUser,
					"description":      "controller to build agent (deploylab)",
					"privateKeySource": map[string]any{"directEntry": map[string]any{"privateKey": "${AGENT_SSH_KEY}"}},
				}},
				// GitHub accepts a token as the password of any user name; the branch source and git use it.
				{"usernamePassword": map[string]any{
					"scope":       "GLOBAL",
					"id":          gitHubCredential,
					"username":    "x-access-token",
					"password":    "${GITHUB_TOKEN}",
					"description": "GitHub token for the app repository (SSM, deploylab)",
				}},
			},
		}}}},
		"jobs": []map[string]string{{"script": jobs}},
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return "", fmt.Errorf("render JCasC: %w", err)
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("render JCasC: %w", err)
	}
	return buf.String(), nil
}

type gitHubRepo struct{ Owner, Repo string }

// RenderJobs returns the Job DSL script that creates app-dev and app-deploy.
func RenderJobs(h HostConfig) (string, error) {
	data := struct {
		AppRepo, Branch, DeployUser, DeployCredential string
		GitHub                                        *gitHubRepo
		Promote                                       bool
	}{AppRepo: h.AppRepo, Branch: h.Branch, DeployUser: h.DeployUser, DeployCredential: deployCredential,
		GitHub: parseGitHub(h.AppRepo), Promote: h.PromoteFrom != ""}
	tmpl, err := template.New("jobs").Funcs(template.FuncMap{"groovy": groovyQuote}).Parse(jobsTemplate)
	if err != nil {
		return "", fmt.Errorf("parse jobs template: %w", err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("render jobs: %w", err)
	}
	return buf.String(), nil
}

// hostKeyRe is an OpenSSH public key line: a key type and base64, optionally a comment.
var hostKeyRe = regexp.MustCompile(`^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,2}( [^\n]*)?$`)

// RenderKnownHosts returns the known_hosts file that pins the app host's key to its address, or an empty file
// when there is no app host or no key yet: with StrictHostKeyChecking=yes an empty file fails every deploy at
// host key verification, it never trusts a first key.
func RenderKnownHosts(host, key string) (string, error) {
	key = strings.TrimSpace(key)
	if host == "" || key == "" {
		return "", nil
	}
	if !hostKeyRe.MatchString(key) {
		return "", fmt.Errorf("jenkins: app host key %q is not an OpenSSH public key (ssh-ed25519 AAAA...)", key)
	}
	return host + " " + key + "\n", nil
}

// RenderNginxSite returns the nginx server that fronts Jenkins at upstream for domain, open only to adminCidrs.
func RenderNginxSite(domain string, adminCidrs []string, upstream string) (string, error) {
	tmpl, err := template.New("site").Parse(nginxSiteTemplate)
	if err != nil {
		return "", fmt.Errorf("parse nginx template: %w", err)
	}
	var buf bytes.Buffer
	err = tmpl.Execute(&buf, struct {
		Domain, Upstream string
		AdminCidrs       []string
	}{domain, upstream, adminCidrs})
	if err != nil {
		return "", fmt.Errorf("render nginx site: %w", err)
	}
	return buf.String(), nil
}

// parseGitHub returns owner and repository of a github.com HTTPS URL, or nil: GitHub repositories get branch and
// pull request discovery, any other git URL branch discovery only.
func parseGitHub(repo string) *gitHubRepo {
	u, err := url.Parse(repo)
	if err != nil || u.Scheme != "https" || u.Host != "github.com" {
		return nil
	}
	parts := strings.Split(strings.Trim(strings.TrimSuffix(u.Path, ".git"), "/"), "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return nil
	}
	return &gitHubRepo{Owner: parts[0], Repo: parts[1]}
}

// groovyQuote returns s as a Groovy single-quoted string (no interpolation).
func groovyQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}

// shellQuote returns s single-quoted for the env file that the scripts source.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

const jenkinsUnit = `[Unit]
Description=Jenkins controller (deploylab)
Requires=docker.service
After=docker.service network-online.target srv-jenkins_home.mount
Wants=network-online.target
RequiresMountsFor=/srv/jenkins_home

[Service]
# Secrets land on a tmpfs under /run before every start and are gone at stop.
ExecStartPre=/usr/local/sbin/jenkins-secrets
ExecStart=/usr/local/sbin/jenkins-run
ExecStop=/usr/bin/docker stop jenkins
ExecStopPost=/bin/rm -rf /run/jenkins/secrets
Restart=on-failure
RestartSec=10s
TimeoutStartSec=5min

[Install]
WantedBy=multi-user.target
`

const certbotService = `[Unit]
Description=Get the Let's Encrypt certificate of the Jenkins domain (deploylab)
After=network-online.target nginx.service
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/jenkins-certbot
`

const certbotTimer = `[Unit]
Description=Retry the Jenkins certificate until DNS points here (deploylab)

[Timer]
OnActiveSec=1min
OnUnitInactiveSec=5min

[Install]
WantedBy=timers.target
`

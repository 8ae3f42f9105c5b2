package jenkins

import (
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/deploylab/deploylab/components/apphost"
	"github.com/deploylab/deploylab/internal/cloudinit"
	"github.com/deploylab/deploylab/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	sampleHostKey  = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0aG9zdGtleWZvcmRlcGxveWxhYmFwcGhvc3Q app"
	sampleAgentKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGFnZW50aG9zdGtleWZvcmRlcGxveWxhYmJ1aWxkZXJz"
)

func sampleHost(domain string) HostConfig {
	h := HostConfig{
		AdminPasswordParameter: "/deploylab/deploylab/dev/jenkins/admin-password",
		DeployKeyParameter:     "/deploylab/deploylab/dev/jenkins/deploy-ssh-key",
		GitHubTokenParameter:   "/deploylab/deploylab/dev/jenkins/github-token",
		HomeVolumeID:           "vol-0123456789abcdef0",
		PublicIP:               "203.0.113.10",
		Executors:              2,
		AppRepo:                "https://github.com/example/app.git",
		Branch:                 "main",
		BuildTool:              "gradle",
		RepositoryURL:          "123456789012.dkr.ecr.eu-central-1.amazonaws.com/jenkins-app",
		DeployHost:             "10.0.1.20",
		DeployUser:             "deploy",
		AgentKeyParameter:      "/deploylab/deploylab/dev/jenkins/agent-ssh-key",
		AgentHost:              "10.0.1.30",
		AgentHostKey:           sampleAgentKey,
		AdminCidrs:             []string{"198.51.100.0/24"},
	}
	if domain != "" {
		h.Domain, h.CertbotEmail = domain, "ops@example.com"
	}
	return h
}

// TestUserDataGolden pins the rendered user data and runs the real cloud-init schema on it.
func TestUserDataGolden(t *testing.T) {
	t.Parallel()
	for name, domain := range map[string]string{"plain": "", "domain": "jenkins.example.com"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			doc, err := RenderUserData(sampleHost(domain))
			require.NoError(t, err)
			golden := filepath.Join("testdata", "userdata-"+name+".golden.yaml")
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(doc), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./components/jenkins -update")
			require.Equal(t, string(want), doc)
			// EC2 refuses user data above 16 KiB (counted before base64): the component sends it gzipped.
			packed, err := renderCompressedUserData(sampleHost(domain))
			require.NoError(t, err)
			raw, err := base64.StdEncoding.DecodeString(packed)
			require.NoError(t, err)
			require.Less(t, len(raw), 16384, "gzipped user data too big for EC2")
			testutil.CheckCloudInitSchema(t, doc)
		})
	}
}

// TestUserDataLayout checks what the host needs: Jenkins on loopback only behind nginx, the scripts installed.
func TestUserDataLayout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		domain, publish string
		nginx           bool
	}{{"", "0.0.0.0:8080", false}, {"jenkins.example.com", "127.0.0.1:8080", true}} {
		doc, err := RenderUserData(sampleHost(tc.domain))
		require.NoError(t, err)
		var cfg cloudinit.Config
		require.NoError(t, yaml.Unmarshal([]byte(doc), &cfg))
		files := map[string]string{}
		for _, f := range cfg.WriteFiles {
			files[f.Path] = f.Content
		}
		require.Contains(t, files["/etc/jenkins/jenkins.env"], "JENKINS_PUBLISH="+tc.publish)
		require.Contains(t, files["/etc/jenkins/image/Dockerfile"], "FROM "+JenkinsImage)
		require.Contains(t, files["/etc/jenkins/image/Dockerfile"], "jenkins-plugin-cli --plugin-file")
		require.Equal(t, tc.nginx, files["/etc/nginx/sites-available/jenkins"] != "")
		require.Equal(t, tc.nginx, files["/usr/local/sbin/jenkins-certbot"] != "")
		require.Equal(t, [][]string{{"/usr/local/sbin/jenkins-setup"}}, cfg.RunCmd[len(cfg.RunCmd)-1:])
		// The SSM agent comes from the app host's installer, byte for byte (Debian AMIs ship none).
		require.Equal(t, apphost.SSMAgentScript(), files[apphost.SSMAgentPath])
		require.Contains(t, fmt.Sprint(cfg.RunCmd), apphost.SSMAgentPath)
		require.Contains(t, files["/etc/jenkins/jenkins.env"], "AGENT_KEY_PARAMETER='/deploylab/deploylab/dev/jenkins/agent-ssh-key'")
		// Nothing of the deploy path is left on the controller: no pinned app host, no Docker socket, no build CLIs.
		require.NotContains(t, files, "/etc/jenkins/ssh_known_hosts")
		require.NotContains(t, files["/usr/local/sbin/jenkins-run"], "docker.sock")
		require.NotContains(t, files["/etc/jenkins/image/Dockerfile"], "docker.io")
	}
}

// TestScriptsShellcheck runs the real shellcheck on every script the user data embeds.
func TestScriptsShellcheck(t *testing.T) {
	t.Parallel()
	scripts, err := filepath.Glob("files/*.sh")
	require.NoError(t, err)
	require.Len(t, scripts, 5)
	out, err := exec.Command("shellcheck", append([]string{"--shell=bash"}, scripts...)...).CombinedOutput()
	require.NoError(t, err, "shellcheck (apt-get install shellcheck):\n%s", out)
}

// TestCasc parses the JCasC document and checks the security settings, credentials, executors and jobs.
func TestCasc(t *testing.T) {
	t.Parallel()
	for _, domain := range []string{"", "jenkins.example.com"} {
		h := sampleHost(domain)
		doc, err := RenderCasc(h)
		require.NoError(t, err)
		var c struct {
			Jenkins struct {
				NumExecutors  int              `yaml:"numExecutors"`
				Nodes         []map[string]any `yaml:"nodes"`
				SecurityRealm struct {
					Local struct {
						AllowsSignup bool `yaml:"allowsSignup"`
						Users        []struct{ ID, Password string }
					}
				} `yaml:"securityRealm"`
				AuthorizationStrategy map[string]map[string]bool `yaml:"authorizationStrategy"`
				CrumbIssuer           map[string]any             `yaml:"crumbIssuer"`
				GlobalNodeProperties  []struct {
					EnvVars struct{ Env []struct{ Key, Value string } } `yaml:"envVars"`
				} `yaml:"globalNodeProperties"`
			}
			Unclassified struct{ Location struct{ URL string } }
			Credentials  struct {
				System struct {
					DomainCredentials []struct {
						Credentials []struct {
							UsernamePassword map[string]string `yaml:"usernamePassword"`
							SSH              struct {
								ID, Username, Scope string
								PrivateKeySource    struct {
									DirectEntry struct {
										PrivateKey string `yaml:"privateKey"`
									} `yaml:"directEntry"`
								} `yaml:"privateKeySource"`
							} `yaml:"basicSSHUserPrivateKey"`
						}
					} `yaml:"domainCredentials"`
				}
			}
			Jobs []struct{ Script string }
		}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &c))
		// Nothing builds on the controller; the one node is the agent, launched over SSH against its pinned key.
		require.Equal(t, 0, c.Jenkins.NumExecutors)
		require.Len(t, c.Jenkins.Nodes, 1)
		node := c.Jenkins.Nodes[0]["permanent"].(map[string]any)
		require.Equal(t, "docker", node["labelString"])
		require.Equal(t, "EXCLUSIVE", node["mode"])
		require.Equal(t, 2, node["numExecutors"])
		require.Equal(t, "always", node["retentionStrategy"])
		ssh := node["launcher"].(map[string]any)["ssh"].(map[string]any)
		require.Equal(t, "10.0.1.30", ssh["host"])
		require.Equal(t, 22, ssh["port"])
		require.Equal(t, agentCredential, ssh["credentialsId"])
		require.Equal(t, "/opt/jenkins-java/bin/java", ssh["javaPath"])
		require.Equal(t, map[string]any{"manuallyProvidedKeyVerificationStrategy": map[string]any{"key": sampleAgentKey}},
			ssh["sshHostKeyVerificationStrategy"], "the agent's host key is pinned, never trusted on first use")
		require.False(t, c.Jenkins.SecurityRealm.Local.AllowsSignup)
		require.Len(t, c.Jenkins.SecurityRealm.Local.Users, 1)
		require.Equal(t, "admin", c.Jenkins.SecurityRealm.Local.Users[0].ID)
		require.Equal(t, "${JENKINS_ADMIN_PASSWORD}", c.Jenkins.SecurityRealm.Local.Users[0].Password)
		require.Equal(t, false, c.Jenkins.AuthorizationStrategy["loggedInUsersCanDoAnything"]["allowAnonymousRead"])
		require.Contains(t, c.Jenkins.CrumbIssuer, "standard", "CSRF protection on")
		env := map[string]string{}
		for _, e := range c.Jenkins.GlobalNodeProperties[0].EnvVars.Env {
			env[e.Key] = e.Value
		}
		require.Equal(t, h.RepositoryURL, env["ECR_REPOSITORY"])
		require.Equal(t, h.DeployHost, env["DEPLOY_HOST"])
		require.Equal(t, "deploy", env["DEPLOY_USER"])
		require.Equal(t, h.URL(), c.Unclassified.Location.URL)
		if domain != "" {
			require.Equal(t, "https://jenkins.example.com/", c.Unclassified.Location.URL)
		}
		creds := c.Credentials.System.DomainCredentials[0].Credentials
		require.Len(t, creds, 2)
		cred := creds[0].SSH
		require.Equal(t, agentCredential, cred.ID)
		require.Equal(t, "SYSTEM", cred.Scope, "only Jenkins itself may use the agent key, no build")
		require.Equal(t, "jenkins", cred.Username)
		require.Equal(t, "${AGENT_SSH_KEY}", cred.PrivateKeySource.DirectEntry.PrivateKey)
		require.Equal(t, map[string]string{"scope": "GLOBAL", "id": "github", "username": "x-access-token", "password": "${GITHUB_TOKEN}",
			"description": "GitHub token for the app repository (SSM, deploylab)"}, creds[1].UsernamePassword)
		require.Len(t, c.Jobs, 1)
		require.Contains(t, c.Jobs[0].Script, "multibranchPipelineJob('app-dev')")
		require.Contains(t, c.Jobs[0].Script, "pipelineJob('deploy/app-deploy')")
		require.Contains(t, c.Jobs[0].Script, "scriptPath('Jenkinsfile.dev')")
		require.Contains(t, c.Jobs[0].Script, "credentialsId('github')")
		// JCasC substitutes ${...} everywhere: the job script must hold none.
		require.NotContains(t, c.Jobs[0].Script, "${")
		// The only variables in the document are the three secrets the host provides.
		vars := regexp.MustCompile(`\$\{[^}]*\}`).FindAllString(doc, -1)
		require.ElementsMatch(t, []string{"${JENKINS_ADMIN_PASSWORD}", "${AGENT_SSH_KEY}", "${GITHUB_TOKEN}"}, vars)
	}
	h := sampleHost("")
	h.AgentHostKey = ""
	_, err := RenderCasc(h)
	require.ErrorContains(t, err, "build agent \"10.0.1.30\" with host key \"\"")
}

// TestDeployCredentialInFolderOnly: the deploy key is a credential of the deploy folder, which holds only the
// deploy (or promote) job; the global JCasC credentials do not have it, and app-dev lives outside the folder, so a
// branch build cannot bind it.
func TestDeployCredentialInFolderOnly(t *testing.T) {
	t.Parallel()
	for _, promote := range []string{"", "111122223333.dkr.ecr.eu-central-1.amazonaws.com/app"} {
		h := sampleHost("")
		h.PromoteFrom = promote
		casc, err := RenderCasc(h)
		require.NoError(t, err)
		var doc struct {
			Credentials map[string]any
			Jobs        []struct{ Script string }
		}
		require.NoError(t, yaml.Unmarshal([]byte(casc), &doc))
		global, err := yaml.Marshal(doc.Credentials)
		require.NoError(t, err)
		require.NotContains(t, string(global), deployCredential)
		require.NotContains(t, string(global), "DEPLOY_SSH_KEY")

		script := doc.Jobs[0].Script
		folder := regexp.MustCompile(`(?s)\nfolder\('deploy'\) \{\n.*?\n\}\n`).FindString(script)
		require.NotEmpty(t, folder, script)
		require.Contains(t, folder, "folderCredentialsProperty {")
		require.Contains(t, folder, "id('deploy-ssh')")
		require.Contains(t, folder, "username('deploy')")
		require.Contains(t, folder, "privateKey(new File('/run/secrets/DEPLOY_SSH_KEY').text)")
		require.Equal(t, 1, strings.Count(script, deployCredential), "the credential is defined once, in the folder")
		jobs := regexp.MustCompile(`(?m)^(multibranchPipelineJob|pipelineJob)\('([^']+)'\)`).FindAllStringSubmatch(script, -1)
		names := map[string]bool{}
		for _, j := range jobs {
			names[j[2]] = true
		}
		want := map[string]bool{"app-dev": true, "deploy/app-deploy": true}
		if promote != "" {
			want = map[string]bool{"app-dev": true, "deploy/app-promote": true}
		}
		require.Equal(t, want, names, "only the deploy job sits in the deploy folder")
	}
}

// TestPipelinesRunOnTheAgent: the controller has no executor, so every pipeline asks for the agent's label; the
// promotion's approval waits on no executor.
func TestPipelinesRunOnTheAgent(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"Jenkinsfile.dev", "Jenkinsfile.deploy", "Jenkinsfile.promote"} {
		b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "jenkins", f))
		require.NoError(t, err)
		src := string(b)
		require.NotRegexp(t, `agent\s+any`, src, f)
		require.Contains(t, src, "agent { label '"+agentLabel+"' }", f)
		if f == "Jenkinsfile.promote" {
			require.Contains(t, src, "agent none")
			approve := src[strings.Index(src, "stage('Approve')"):strings.Index(src, "stage('Deploy')")]
			require.NotContains(t, approve, "agent", "the approval holds no executor")
			require.Contains(t, src, "node('"+agentLabel+"')", "the rollback gets a node of its own")
		}
	}
}

// TestAgentUserData: the agent's user data passes the real cloud-init schema, fits EC2's limit with room, holds
// no secret (the host key is read from SSM at boot), authorizes only the controller's key and pins the app host.
func TestAgentUserData(t *testing.T) {
	t.Parallel()
	cfg := AgentConfig{HostKeyParameter: "/deploylab/deploylab/dev/jenkins/agent-host-key", Region: "eu-central-1",
		ControllerKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNvbnRyb2xsZXJrZXk jenkins\n", DeployHost: "10.0.1.20", DeployHostKey: sampleHostKey}
	doc, err := RenderAgentUserData(cfg)
	require.NoError(t, err)
	testutil.CheckCloudInitSchema(t, doc)
	packed, err := compress(doc, nil)
	require.NoError(t, err)
	require.Less(t, len(packed), 13107, "gzipped+base64 agent user data above 80%% of EC2's 16 KiB")
	var c cloudinit.Config
	require.NoError(t, yaml.Unmarshal([]byte(doc), &c))
	files := map[string]string{}
	for _, f := range c.WriteFiles {
		files[f.Path] = f.Content
	}
	require.Equal(t, "10.0.1.20 "+sampleHostKey+"\n", files["/etc/ssh/ssh_known_hosts"], "the deploy stage runs here")
	require.Contains(t, files["/etc/jenkins-agent/agent.env"], "HOST_KEY_PARAMETER='/deploylab/deploylab/dev/jenkins/agent-host-key'")
	require.Contains(t, files["/etc/jenkins-agent/agent.env"], "JAVA_IMAGE="+JenkinsImage)
	require.Contains(t, files["/etc/jenkins-agent/agent.env"], "AWS_REGION='eu-central-1'")
	require.Equal(t, agentSetupScript, files["/usr/local/sbin/jenkins-agent-setup"])
	require.NotContains(t, doc, "PRIVATE KEY")
	require.Len(t, c.Users, 2)
	require.Equal(t, agentUser, c.Users[1].Name)
	require.Equal(t, []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNvbnRyb2xsZXJrZXk jenkins"}, c.Users[1].SSHAuthorizedKeys)
	require.True(t, *c.Users[1].LockPasswd)
	require.Subset(t, c.Packages, []string{"docker.io", "awscli", "git", "default-jdk-headless"})
	require.Equal(t, [][]string{{"/usr/local/sbin/jenkins-agent-setup"}}, c.RunCmd)

	// The real sshd accepts the drop-in, and with it only the jenkins user logs in, with a key.
	dir := t.TempDir()
	hostKey := filepath.Join(dir, "host_key")
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey).CombinedOutput()
	require.NoError(t, err, "ssh-keygen: %s", out)
	conf := filepath.Join(dir, "sshd_config")
	dropIn := files["/etc/ssh/sshd_config.d/00-jenkins-agent.conf"]
	require.NoError(t, os.WriteFile(conf, []byte(dropIn+"HostKey "+hostKey+"\n"), 0o600))
	out, err = exec.Command("sshd", "-t", "-f", conf).CombinedOutput()
	require.NoError(t, err, "sshd -t (apt-get install openssh-server):\n%s", out)
	out, err = exec.Command("sshd", "-T", "-f", conf, "-C", "user=admin,host=h,addr=10.0.1.5").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "allowusers jenkins\n")
	require.Contains(t, string(out), "passwordauthentication no\n")
	require.Contains(t, string(out), "permitrootlogin no\n")
}

// TestPipelinesUseTheForcedCommand derives the subcommands of scripts/deploy.sh from its case labels and checks
// the deploy and promote pipelines send exactly what the app host's forced command accepts (`deploy IMAGE`,
// `rollback`, `status`), by digest, with a connect timeout and the pinned host key, and roll back on any
// unsuccessful end (a timeout is ABORTED, not FAILURE).
func TestPipelinesUseTheForcedCommand(t *testing.T) {
	t.Parallel()
	script, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "scripts", "deploy.sh"))
	require.NoError(t, err, "scripts/deploy.sh (the app host's deploy script) is needed to check the pipeline's calls")
	labels := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s*([a-z]+(?:\s*\|\s*[a-z]+)*)\)`).FindAllStringSubmatch(string(script), -1) {
		for _, l := range strings.Split(m[1], "|") {
			labels[strings.TrimSpace(l)] = true
		}
	}
	for file, want := range map[string]map[string]string{
		"Jenkinsfile.deploy":  {"deploy": `"$IMAGE_DIGEST"`, "status": "", "rollback": ""},
		"Jenkinsfile.promote": {"deploy": `"$ECR_REPOSITORY@$DIGEST"`, "status": "", "rollback": ""},
	} {
		pipeline, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "jenkins", file))
		require.NoError(t, err)
		src := string(pipeline)
		calls := regexp.MustCompile(`ssh (\S+) "\$DEPLOY_USER@\$DEPLOY_HOST" (\w+)([^']*)'`).FindAllStringSubmatch(src, -1)
		got := map[string]string{}
		for _, c := range calls {
			require.Equal(t, "$SSH_OPTS", c[1], file)
			require.True(t, labels[c[2]], "%s sends %s, which deploy.sh does not handle (it handles %v)", file, c[2], labels)
			got[c[2]] = strings.TrimSpace(c[3])
		}
		require.Equal(t, want, got, file)
		require.Contains(t, src, "-o ConnectTimeout=15 -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/dev/null -o GlobalKnownHostsFile=/etc/ssh/ssh_known_hosts", file)
		require.NotContains(t, src, "accept-new", file)
		require.Contains(t, src, "unsuccessful {", file)
		require.NotContains(t, src, "failure {", file)
		require.NotContains(t, src, "DEPLOY_SCRIPT", file)
	}
}

// TestPromotionModel: a stack that promotes gets app-promote (no build, no trigger) and its pipeline; any other
// gets app-deploy, polled through pipelineTriggers, which builds, tests and deploys by digest.
func TestPromotionModel(t *testing.T) {
	t.Parallel()
	h := sampleHost("")
	dev, err := RenderUserData(h)
	require.NoError(t, err)
	h.PromoteFrom = "111122223333.dkr.ecr.eu-central-1.amazonaws.com/jenkins-app-1a2b3c"
	prod, err := RenderUserData(h)
	require.NoError(t, err)
	for _, tc := range []struct {
		doc, has, hasNot string
	}{{dev, "pipelineJob('deploy/app-deploy')", "pipelineJob('deploy/app-promote')"}, {prod, "pipelineJob('deploy/app-promote')", "pipelineJob('deploy/app-deploy')"}} {
		var cfg cloudinit.Config
		require.NoError(t, yaml.Unmarshal([]byte(tc.doc), &cfg))
		files := map[string]string{}
		for _, f := range cfg.WriteFiles {
			files[f.Path] = f.Content
		}
		jobs := files["/etc/jenkins/casc/jenkins.yaml"]
		require.Contains(t, jobs, tc.has)
		require.NotContains(t, jobs, tc.hasNot)
		if tc.has == "pipelineJob('deploy/app-promote')" {
			require.Contains(t, files, "/etc/jenkins/casc/Jenkinsfile.promote")
			require.Contains(t, jobs, "PROMOTE_FROM")
		} else {
			require.Contains(t, files, "/etc/jenkins/casc/Jenkinsfile.deploy")
			require.Contains(t, jobs, "scmpoll_spec('H/5 * * * *')")
		}
	}
	deploy, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "jenkins", "Jenkinsfile.deploy"))
	require.NoError(t, err)
	// Tests gate the deploy: the Test stage comes before the image is built.
	require.Less(t, strings.Index(string(deploy), "stage('Test')"), strings.Index(string(deploy), "stage('Build image')"))
	promote, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "jenkins", "Jenkinsfile.promote"))
	require.NoError(t, err)
	require.Less(t, strings.Index(string(promote), "input message"), strings.Index(string(promote), "stage('Deploy')"), "a person approves before prod")
	require.NotContains(t, string(promote), "docker build", "nothing is rebuilt for prod")
}

// TestJobDSLFreeOfDeprecatedCalls: job-dsl's Migration.md deprecates triggers { scm() } on pipeline jobs
// (JENKINS-53775); JCasC's remotingSecurity has had no effect since 2.326 and logs a stack trace at each start.
func TestJobDSLFreeOfDeprecatedCalls(t *testing.T) {
	t.Parallel()
	for _, promote := range []string{"", "111122223333.dkr.ecr.eu-central-1.amazonaws.com/app"} {
		h := sampleHost("")
		h.PromoteFrom = promote
		jobs, err := RenderJobs(h)
		require.NoError(t, err)
		require.NotRegexp(t, `\bscm\s*\(`, jobs)
		require.NotRegexp(t, `(?m)^\s*triggers\s*\{\s*$[^}]*\bcron\b`, jobs)
		casc, err := RenderCasc(h)
		require.NoError(t, err)
		require.NotContains(t, casc, "remotingSecurity")
	}
}

// TestGroovyParses compiles the Jenkinsfiles and the rendered Job DSL with the real Groovy compiler. It checks
// syntax only: Jenkins steps and DSL methods resolve at run time.
func TestGroovyParses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	jobs, err := RenderJobs(sampleHost(""))
	require.NoError(t, err)
	other := sampleHost("")
	other.AppRepo = "https://git.example.com/team/app.git"
	jobsGit, err := RenderJobs(other)
	require.NoError(t, err)
	require.Contains(t, jobsGit, "remote('https://git.example.com/team/app.git')")
	promote := sampleHost("")
	promote.PromoteFrom = "111122223333.dkr.ecr.eu-central-1.amazonaws.com/app"
	jobsPromote, err := RenderJobs(promote)
	require.NoError(t, err)
	sources := map[string]string{"jobs_github.groovy": jobs, "jobs_git.groovy": jobsGit, "jobs_promote.groovy": jobsPromote}
	for _, f := range []string{"Jenkinsfile.dev", "Jenkinsfile.deploy", "Jenkinsfile.promote"} {
		b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "jenkins", f))
		require.NoError(t, err)
		sources[strings.ReplaceAll(f, ".", "_")+".groovy"] = string(b)
	}
	var paths []string
	for name, src := range sources {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(src), 0o644))
		paths = append(paths, p)
	}
	cmd := exec.Command("groovyc", append([]string{"-d", filepath.Join(dir, "classes")}, paths...)...)
	cmd.Env = append(os.Environ(), "JAVA_HOME="+javaHome(t))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "groovyc (apt-get install groovy):\n%s", out)
}

func javaHome(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("JAVA_HOME"); h != "" {
		return h
	}
	java, err := exec.LookPath("java")
	require.NoError(t, err, "java is needed by groovyc")
	real, err := filepath.EvalSymlinks(java)
	require.NoError(t, err)
	return filepath.Dir(filepath.Dir(real))
}

// TestNginxSiteValid runs the real `nginx -t` on the rendered site inside a minimal nginx.conf.
func TestNginxSiteValid(t *testing.T) {
	t.Parallel()
	site, err := RenderNginxSite("jenkins.example.com", []string{"198.51.100.0/24", "2001:db8::/32"}, "127.0.0.1:8080")
	require.NoError(t, err)
	require.Contains(t, site, "allow 198.51.100.0/24;")
	require.Contains(t, site, "deny all;")
	dir := t.TempDir()
	writeNginxConf(t, dir, site)
	out, err := exec.Command("nginx", "-t", "-p", dir, "-c", filepath.Join(dir, "nginx.conf")).CombinedOutput()
	require.NoError(t, err, "nginx -t (apt-get install nginx):\n%s", out)
}

func writeNginxConf(t *testing.T, dir, site string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "logs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "site.conf"), []byte(site), 0o644))
	conf := "daemon off;\nerror_log " + filepath.Join(dir, "logs", "error.log") + ";\npid " + filepath.Join(dir, "nginx.pid") +
		";\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path " + dir + "/tmp;\n  proxy_temp_path " + dir + "/tmp;\n" +
		"  fastcgi_temp_path " + dir + "/tmp;\n  uwsgi_temp_path " + dir + "/tmp;\n  scgi_temp_path " + dir + "/tmp;\n" +
		"  include " + filepath.Join(dir, "site.conf") + ";\n}\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644))
}

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

const sampleHostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0aG9zdGtleWZvcmRlcGxveWxhYmFwcGhvc3Q app"

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
		DeployHostKey:          sampleHostKey,
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
		require.Equal(t, "10.0.1.20 "+sampleHostKey+"\n", files["/etc/jenkins/ssh_known_hosts"])
	}
}

// TestScriptsShellcheck runs the real shellcheck on every script the user data embeds.
func TestScriptsShellcheck(t *testing.T) {
	t.Parallel()
	scripts, err := filepath.Glob("files/*.sh")
	require.NoError(t, err)
	require.Len(t, scripts, 4)
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
				NumExecutors  int `yaml:"numExecutors"`
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
								ID, Username     string
								PrivateKeySource struct {
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
		require.Equal(t, 2, c.Jenkins.NumExecutors)
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
		require.Equal(t, deployCredential, cred.ID)
		require.Equal(t, "deploy", cred.Username)
		require.Equal(t, "${DEPLOY_SSH_KEY}", cred.PrivateKeySource.DirectEntry.PrivateKey)
		require.Equal(t, map[string]string{"scope": "GLOBAL", "id": "github", "username": "x-access-token", "password": "${GITHUB_TOKEN}",
			"description": "GitHub token for the app repository (SSM, deploylab)"}, creds[1].UsernamePassword)
		require.Len(t, c.Jobs, 1)
		require.Contains(t, c.Jobs[0].Script, "multibranchPipelineJob('app-dev')")
		require.Contains(t, c.Jobs[0].Script, "pipelineJob('app-deploy')")
		require.Contains(t, c.Jobs[0].Script, "scriptPath('Jenkinsfile.dev')")
		require.Contains(t, c.Jobs[0].Script, "credentialsId('github')")
		// JCasC substitutes ${...} everywhere: the job script must hold none.
		require.NotContains(t, c.Jobs[0].Script, "${")
		// The only variables in the document are the three secrets the host provides.
		vars := regexp.MustCompile(`\$\{[^}]*\}`).FindAllString(doc, -1)
		require.ElementsMatch(t, []string{"${JENKINS_ADMIN_PASSWORD}", "${DEPLOY_SSH_KEY}", "${GITHUB_TOKEN}"}, vars)
	}
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
	for _, m := range regexp.MustCompile(`(?m)^\s*([a-z|]+)\)`).FindAllStringSubmatch(string(script), -1) {
		for _, l := range strings.Split(m[1], "|") {
			labels[l] = true
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
	}{{dev, "pipelineJob('app-deploy')", "pipelineJob('app-promote')"}, {prod, "pipelineJob('app-promote')", "pipelineJob('app-deploy')"}} {
		var cfg cloudinit.Config
		require.NoError(t, yaml.Unmarshal([]byte(tc.doc), &cfg))
		files := map[string]string{}
		for _, f := range cfg.WriteFiles {
			files[f.Path] = f.Content
		}
		jobs := files["/etc/jenkins/casc/jenkins.yaml"]
		require.Contains(t, jobs, tc.has)
		require.NotContains(t, jobs, tc.hasNot)
		if tc.has == "pipelineJob('app-promote')" {
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

package jenkins

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	pipelines "github.com/deploylab/deploylab/jenkins"
)

// coreVersion parses a Jenkins core version (2.568.2, 2.539) for comparison.
func coreVersion(t *testing.T, v string) []int {
	t.Helper()
	require.Regexp(t, `^2\.\d+(\.\d+)?$`, v)
	var out []int
	for _, p := range strings.Split(v, ".") {
		n, err := strconv.Atoi(p)
		require.NoError(t, err)
		out = append(out, n)
	}
	return append(out, 0)[:3]
}

func lessOrEqual(a, b []int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return true
}

// TestPluginsPinned: every plugin line is NAME:VERSION, the set equals the recorded resolve (plugins.lock), and
// every plugin's required core (its pom.xml jenkins.version, recorded at resolve time) is at most the image's core.
// Otherwise jenkins-plugin-cli stops the image build and jenkins.service never starts.
func TestPluginsPinned(t *testing.T) {
	t.Parallel()
	image := regexp.MustCompile(`^jenkins/jenkins:(2\.\d+\.\d+)-lts-jdk(17|21|25)$`).FindStringSubmatch(JenkinsImage)
	require.NotNil(t, image, "JenkinsImage %q is not a pinned LTS tag", JenkinsImage)
	core := coreVersion(t, image[1])

	pinned := map[string]string{}
	line := regexp.MustCompile(`^([a-z0-9][a-z0-9._-]*):([0-9][A-Za-z0-9._-]*)$`)
	for _, l := range strings.Split(pipelines.Plugins, "\n") {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		m := line.FindStringSubmatch(l)
		require.NotNil(t, m, "plugins.txt line %q is not NAME:VERSION", l)
		require.NotContains(t, pinned, m[1], "plugin %s listed twice", m[1])
		pinned[m[1]] = m[2]
	}
	require.NotEmpty(t, pinned)

	locked := map[string]string{}
	for _, l := range strings.Split(pipelines.PluginsLock, "\n") {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Split(l, "\t")
		require.Len(t, f, 4, "plugins.lock row %q: want plugin, version, required-core, source", l)
		locked[f[0]] = f[1]
		require.True(t, lessOrEqual(coreVersion(t, f[2]), core), "%s %s requires Jenkins %s, the image has %s", f[0], f[1], f[2], image[1])
		require.True(t, strings.HasPrefix(f[3], "jenkinsci/") && strings.Contains(f[3], "@"), "row %q names no upstream source", l)
	}
	require.Equal(t, locked, pinned, "plugins.txt and plugins.lock disagree: re-resolve both together")
	// The image build installs exactly the recorded dependencies' minimum versions, not the update center's latest.
	require.Contains(t, RenderDockerfile(), "--latest false")
}

// TestContainerUserHasPasswdEntryAndHome checks the derived image and the run script together: the process runs
// as a user the image's /etc/passwd knows (OpenSSH exits "No user exists for uid N" otherwise) whose HOME is the
// writable jenkins_home mount (docker login writes $HOME/.docker), at the uid that owns jenkins_home on the host.
// The jenkins image cannot be pulled here, so this asserts on what is rendered: the upstream image creates
// jenkins (uid 1000) with HOME=/var/jenkins_home (jenkinsci/docker debian/Dockerfile at 2.568.2, useradd -d
// "$JENKINS_HOME"), and the Dockerfile moves that user, with its passwd entry, to jenkinsUID.
func TestContainerUserHasPasswdEntryAndHome(t *testing.T) {
	t.Parallel()
	df := RenderDockerfile()
	uid := strconv.Itoa(jenkinsUID)
	require.Contains(t, df, "usermod --uid "+uid+" --gid "+uid+" jenkins")
	require.Contains(t, df, "groupmod --gid "+uid+" jenkins")
	require.Contains(t, df, "chown -R jenkins:jenkins /var/jenkins_home")
	// The last USER wins: the container runs as the named user.
	users := regexp.MustCompile(`(?m)^USER (\S+)$`).FindAllStringSubmatch(df, -1)
	require.Equal(t, "jenkins", users[len(users)-1][1])
	require.Less(t, strings.Index(df, "usermod"), strings.LastIndex(df, "USER jenkins"))

	// The run script starts the container by that name (never a bare uid without an entry) with the home at
	// the passwd entry's HOME, and the host side owns the home as the same uid.
	require.Contains(t, runScript, "--user jenkins ")
	require.NotRegexp(t, `--user "?\$\{?JENKINS_UID`, runScript)
	require.Contains(t, runScript, `--volume "${JENKINS_HOME_DIR:?}:/var/jenkins_home"`)
	require.Contains(t, setupScript, `useradd --system --uid "${JENKINS_UID:?}"`)
	require.Greater(t, jenkinsUID, 1000, "above the host's login users (the Debian AMI's admin is uid 1000)")
}

// TestCascRootElements holds the JCasC document to what the configuration-as-code plugin accepts at its root
// (its own jenkins/unclassified/security/tool/appearance, credentials from the credentials plugin, jobs from
// job-dsl; configuration-as-code-plugin README "Initial Configuration" and docs/developer/implementation.md);
// an unknown root element stops Jenkins at start. The plugin's exported schema could not be obtained here
// (no Jenkins runtime), so the jenkins: keys are checked against the ones this project uses and knows.
func TestCascRootElements(t *testing.T) {
	t.Parallel()
	for _, promote := range []string{"", "111122223333.dkr.ecr.eu-central-1.amazonaws.com/app"} {
		h := sampleHost("")
		h.PromoteFrom = promote
		doc, err := RenderCasc(h)
		require.NoError(t, err)
		var root map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(doc), &root))
		for k := range root {
			require.Contains(t, []string{"jenkins", "unclassified", "security", "tool", "appearance", "credentials", "jobs"}, k)
		}
		for k := range root["jenkins"].(map[string]any) {
			require.Contains(t, []string{"systemMessage", "numExecutors", "mode", "securityRealm", "authorizationStrategy",
				"crumbIssuer", "globalNodeProperties", "nodes"}, k, "jenkins.%s is not a setting this project knows", k)
		}
	}
}

func TestRenderKnownHosts(t *testing.T) {
	t.Parallel()
	got, err := RenderKnownHosts("10.0.1.20", sampleHostKey+"\n")
	require.NoError(t, err)
	require.Equal(t, "10.0.1.20 "+sampleHostKey+"\n", got)
	got, err = RenderKnownHosts("", "")
	require.NoError(t, err)
	require.Empty(t, got, "no app host: nothing to pin")
	got, err = RenderKnownHosts("10.0.1.20", "")
	require.NoError(t, err)
	require.Empty(t, got, "no key yet: nothing trusted, deploys fail closed")
	for _, bad := range []string{"AAAA", "ssh-ed25519", "ssh-ed25519 AAAA\n10.0.0.1 ssh-rsa BBBB"} {
		_, err := RenderKnownHosts("10.0.1.20", bad)
		require.Error(t, err, "%q", bad)
	}
}

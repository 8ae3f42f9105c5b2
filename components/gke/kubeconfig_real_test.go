package gke

// The kubeconfig output, used for real: Google's kubectl runs the real gke-gcloud-auth-plugin, which asks the
// real gcloud for a token. gcloud is given an access token file (its auth/access_token_file property, set
// with CLOUDSDK_AUTH_ACCESS_TOKEN_FILE), so no Google account or network is needed, and the API server on
// 127.0.0.1 (internal/k8stest) accepts that token as a Google user's. What is checked is the chain
// kubeconfig → plugin → gcloud → bearer token → an authenticated request.

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deploylab/deploylab/internal/k8stest"
)

func TestKubeconfigWithTheRealAuthPlugin(t *testing.T) {
	const token, user = "ya29.deploylab-test-token", "teacher@example.com"
	for _, tool := range []string{"kubectl", AuthPlugin, "gcloud"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (Debian packages kubectl, google-cloud-cli-gke-gcloud-auth-plugin, google-cloud-cli; make deps): %v", tool, err)
		}
	}
	cp := k8stest.Start(t, k8stest.User{Token: token, Name: user, Groups: []string{"system:authenticated"}})
	server, err := url.Parse(cp.Server)
	require.NoError(t, err)
	kc, err := Kubeconfig(KubeconfigInput{
		Project: testProject, Region: testRegion, ClusterName: "gke-cluster", Endpoint: server.Host, CACertificate: cp.CAData,
	})
	require.NoError(t, err)
	dir := t.TempDir()
	path := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(path, []byte(kc), 0o600))
	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))

	kubectl := func(env ...string) (string, error) {
		// Google's kubectl (the Debian package), not the one k8s-tools.sh builds.
		cmd := exec.Command("kubectl", "--kubeconfig", path, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
		// A gcloud configuration of the test's own, so no login of this machine is used.
		cmd.Env = append(os.Environ(), append([]string{"CLOUDSDK_CONFIG=" + filepath.Join(dir, "gcloud")}, env...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := kubectl("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE=" + tokenFile)
	require.NoError(t, err, out)
	assert.Equal(t, user, strings.TrimSpace(out), "the API server saw the token the plugin got from gcloud")

	out, err = kubectl()
	require.Error(t, err, "without a gcloud credential the plugin must fail, not fall back to an anonymous request")
	assert.Contains(t, out, AuthPlugin)
}

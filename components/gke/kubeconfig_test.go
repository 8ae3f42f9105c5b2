package gke

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestKubeconfigGolden(t *testing.T) {
	t.Parallel()
	got, err := Kubeconfig(KubeconfigInput{
		Project: "my-gcp-project", Region: "asia-northeast3", ClusterName: "gke-cluster-1a2b3c4",
		Endpoint: "203.0.113.10", CACertificate: base64.StdEncoding.EncodeToString([]byte(testCAPEM)),
	})
	require.NoError(t, err)
	golden := filepath.Join("testdata", "kubeconfig.golden.yaml")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), got)
}

func TestKubeconfigNeedsClusterData(t *testing.T) {
	t.Parallel()
	_, err := Kubeconfig(KubeconfigInput{Project: "p", Region: "r", ClusterName: "c", Endpoint: "203.0.113.10"})
	assert.EqualError(t, err, `gke: kubeconfig needs the cluster name, endpoint and CA certificate (got name "c", endpoint "203.0.113.10", CA of 0 bytes)`)
}

// TestKubeconfigWithRealKubectl hands the rendered kubeconfig to the real kubectl against a local TLS API
// server whose CA is the kubeconfig's: kubectl must trust the server through certificate-authority-data, run
// the exec plugin named gke-gcloud-auth-plugin (a stand-in here, first on PATH, since the real one needs Google
// credentials), pass it the cluster info, and send the token it returns. KUBECTL overrides the binary.
func TestKubeconfigWithRealKubectl(t *testing.T) {
	t.Parallel()
	kubectl := os.Getenv("KUBECTL")
	if kubectl == "" {
		kubectl = "kubectl"
	}
	kubectlPath, err := exec.LookPath(kubectl)
	require.NoError(t, err, "kubectl is needed (Debian package kubectl from the Google Cloud apt repository, or set KUBECTL)")

	const token = "test-token-from-plugin"
	var mu sync.Mutex
	var auths []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"major":"1","minor":"31","gitVersion":"v1.31.0-gke.test"}`))
	}))
	t.Cleanup(srv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	cfg, err := Kubeconfig(KubeconfigInput{
		Project: "p", Region: "r", ClusterName: "c",
		Endpoint:      strings.TrimPrefix(srv.URL, "https://"),
		CACertificate: base64.StdEncoding.EncodeToString(caPEM),
	})
	require.NoError(t, err)

	dir := t.TempDir()
	kubeconfigPath := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfigPath, []byte(cfg), 0o600))
	// The stand-in plugin records the cluster info kubectl passes (provideClusterInfo) and prints an
	// ExecCredential, as the real plugin does.
	execInfo := filepath.Join(dir, "exec-info.json")
	plugin := "#!/bin/sh\nset -eu\nprintf '%s' \"$KUBERNETES_EXEC_INFO\" > " + execInfo + "\n" +
		`printf '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"` + token + `"}}'` + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, AuthPlugin), []byte(plugin), 0o755))

	cmd := exec.Command(kubectlPath, "--kubeconfig", kubeconfigPath, "get", "--raw", "/version")
	cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "kubectl: %s", out)
	assert.Contains(t, string(out), "v1.31.0-gke.test")

	mu.Lock()
	assert.Contains(t, auths, "Bearer "+token)
	mu.Unlock()
	var info struct {
		Spec struct {
			Cluster struct {
				Server                   string `json:"server"`
				CertificateAuthorityData []byte `json:"certificate-authority-data"`
			} `json:"cluster"`
		} `json:"spec"`
	}
	raw, err := os.ReadFile(execInfo)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &info), "exec info: %s", raw)
	assert.Equal(t, srv.URL, info.Spec.Cluster.Server)
	assert.Equal(t, caPEM, info.Spec.Cluster.CertificateAuthorityData)
}

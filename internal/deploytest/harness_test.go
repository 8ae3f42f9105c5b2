// Package deploytest runs the real scripts/deploy.sh against a real nginx (temporary prefix, the site rendered by
// internal/nginxsite) and real containers of the testapp image. Docker, docker-compose and nginx must be present:
// a missing tool fails the tests.
package deploytest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploylab/deploylab/internal/nginxsite"
	"github.com/deploylab/deploylab/internal/nginxsite/nginxtest"
	"github.com/stretchr/testify/require"
)

// repoRoot is found from this file so the tests run from any working directory.
func repoRoot(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func deployScript(t testing.TB) string { return filepath.Join(repoRoot(t), "scripts", "deploy.sh") }

func requireTools(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"docker", "docker-compose", "curl", "flock"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required by the deploy tests: %v", tool, err)
		}
	}
}

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// testappBinary builds testapp once per test process, statically, for an image FROM scratch.
func testappBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "deploylab-testapp-")
		if binErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(binDir, "testapp"), "./testapp")
		cmd.Dir = repoRoot(t)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./testapp: %v\n%s", err, out)
		}
	})
	require.NoError(t, binErr)
	return filepath.Join(binDir, "testapp")
}

func uniqueID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// buildImage packs testapp FROM scratch with the given environment baked in and removes the image at cleanup.
func buildImage(t testing.TB, env map[string]string) string {
	t.Helper()
	return buildImageIn(t, "deploylab-test/testapp", env)
}

// buildImageIn builds the test app image into repository with env baked in, tagged VERSION-unique.
func buildImageIn(t testing.TB, repository string, env map[string]string) string {
	t.Helper()
	requireTools(t)
	ctxDir := t.TempDir()
	bin, err := os.ReadFile(testappBinary(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(ctxDir, "testapp"), bin, 0o755))
	var df strings.Builder
	df.WriteString("FROM scratch\nCOPY testapp /testapp\n")
	for k, v := range env {
		fmt.Fprintf(&df, "ENV %s=%q\n", k, v)
	}
	df.WriteString("ENTRYPOINT [\"/testapp\"]\n")
	require.NoError(t, os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df.String()), 0o644))
	tag := repository + ":" + strings.ToLower(env["VERSION"]) + "-" + uniqueID()
	// --no-cache: tests build in parallel and remove their images when done; with the legacy builder a build that
	// reused another test's cached layer fails when that test's cleanup removes it ("failed to get digest").
	out, err := exec.Command("docker", "build", "--no-cache", "-q", "-t", tag, ctxDir).CombinedOutput()
	require.NoError(t, err, "docker build: %s", out)
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", tag).Run() })
	return tag
}

// freePorts returns n distinct ports that were free a moment ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

// host is one app host in miniature: nginx with the app-host site, an env file, a state dir, two colour ports.
type host struct {
	t          testing.TB
	app        string
	nginx      *nginxtest.Prefix
	upstream   string
	envFile    string
	stateDir   string
	blue       int
	green      int
	switchPort int
	publicURL  string
	extraEnv   map[string]string
	envEntries map[string]string
	script     string // deploy.sh to run; scripts/deploy.sh when empty
}

type hostOption func(h *host)

// withNFT switches with deploy.sh's SWITCH=nft: nginx proxies to the host's switch port from the start (as the
// app host's cloud-init leaves it) and the app's nft table is deleted at cleanup. A missing nft fails the test.
func withNFT() hostOption {
	return func(h *host) {
		if _, err := exec.LookPath("nft"); err != nil {
			h.t.Fatalf("nft (Debian package nftables) is required by the SWITCH=nft tests: %v", err)
		}
		h.envEntries["SWITCH"] = "nft"
		h.envEntries["SWITCH_PORT"] = fmt.Sprint(h.switchPort)
		h.t.Cleanup(func() { _ = exec.Command("nft", "delete", "table", "ip", h.nftTable()).Run() })
	}
}

// nftTable is the table deploy.sh keeps the app's rule in.
func (h *host) nftTable() string { return "deploylab_" + h.app }

// nftRulePort is the colour port the app's rule sends the switch port to, "" without a rule.
func (h *host) nftRulePort() string {
	h.t.Helper()
	out, _ := exec.Command("nft", "list", "chain", "ip", h.nftTable(), "out").CombinedOutput()
	m := regexp.MustCompile(fmt.Sprintf(`tcp dport %d dnat to 127\.0\.0\.1:(\d+)`, h.switchPort)).FindSubmatch(out)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// withEnv overrides or adds env file entries.
func withEnv(kv map[string]string) hostOption {
	return func(h *host) {
		for k, v := range kv {
			h.envEntries[k] = v
		}
	}
}

func newHost(t testing.TB, opts ...hostOption) *host {
	t.Helper()
	requireTools(t)
	ports := freePorts(t, 4)
	dir := t.TempDir()
	h := &host{t: t, app: "dlt-" + uniqueID(), upstream: filepath.Join(dir, "upstream.conf"),
		envFile: filepath.Join(dir, "deploy.env"), stateDir: filepath.Join(dir, "state"),
		blue: ports[1], green: ports[2], switchPort: ports[3], publicURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0])}
	site, err := nginxsite.Render(nginxsite.Args{UpstreamFile: h.upstream, ListenPort: ports[0]})
	require.NoError(t, err)
	h.nginx = nginxtest.NewPrefix(t, site)
	h.envEntries = map[string]string{
		"APP_NAME":            h.app,
		"BLUE_PORT":           fmt.Sprint(h.blue),
		"GREEN_PORT":          fmt.Sprint(h.green),
		"APP_PORT":            "8080",
		"HEALTH_PATH":         "/actuator/health",
		"NGINX_UPSTREAM_FILE": h.upstream,
		"NGINX_TEST_CMD":      h.nginx.Command("-t", "-q"),
		"NGINX_RELOAD_CMD":    h.nginx.Command("-s", "reload"),
		"PUBLIC_URL":          h.publicURL,
		"SWITCH":              "nginx",
		"HEALTH_OK_COUNT":     "3",
		"HEALTH_TIMEOUT":      "30",
		"HEALTH_INTERVAL":     "0.2",
		"DRAIN_SECONDS":       "0.5",
		"STOP_TIMEOUT":        "5",
		"STATE_DIR":           h.stateDir,
		// The test images exist only on this host (no registry): deploy.sh pins them by image ID.
		"PULL": "never",
		// Parallel tests share the test image repository: pruning it would remove other tests' images
		// (TestPruneKeepsLiveAndPrevious prunes a repository of its own).
		"PRUNE": "0",
	}
	for _, o := range opts {
		o(h)
	}
	h.writeEnv()
	// Before the first deploy the upstream points at blue (SWITCH=nginx) or at the switch port (SWITCH=nft), as
	// the app host's cloud-init leaves it.
	first := h.blue
	if h.envEntries["SWITCH"] == "nft" {
		first = h.switchPort
	}
	require.NoError(t, os.WriteFile(h.upstream, []byte(nginxsite.Upstream(first)), 0o644))
	h.nginx.Start(t)
	t.Cleanup(func() {
		for _, colour := range []string{"blue", "green"} {
			ids, _ := exec.Command("docker", "ps", "-aq", "--filter",
				"label=com.docker.compose.project="+h.app+"-"+colour).Output()
			if f := strings.Fields(string(ids)); len(f) > 0 {
				_ = exec.Command("docker", append([]string{"rm", "-f"}, f...)...).Run()
			}
		}
	})
	return h
}

func (h *host) writeEnv() {
	var b strings.Builder
	for k, v := range h.envEntries {
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	require.NoError(h.t, os.WriteFile(h.envFile, []byte(b.String()), 0o644))
}

type result struct {
	code   int
	stdout string
	stderr string
}

// command prepares deploy.sh with this host's env file; the caller runs it.
func (h *host) command(args ...string) *exec.Cmd {
	script := h.script
	if script == "" {
		script = deployScript(h.t)
	}
	cmd := exec.Command("bash", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "DEPLOYLAB_ENV_FILE="+h.envFile)
	for k, v := range h.extraEnv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

func (h *host) run(args ...string) result {
	h.t.Helper()
	cmd := h.command(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		h.t.Fatalf("run deploy.sh: %v", err)
	}
	return r
}

// mustDeploy deploys and fails the test with the script's output if it did not succeed.
func (h *host) mustDeploy(image string) result {
	h.t.Helper()
	r := h.run("deploy", image)
	h.t.Logf("deploy %s:\n%s", image, r.stderr) // shown with -v: where a deploy's time goes
	require.Equal(h.t, 0, r.code, "deploy %s failed:\n%s\nnginx:\n%s", image, r.stderr, h.nginx.ErrorLog())
	return r
}

// get asks url once and returns the status and trimmed body ("" and 0 on connection errors).
func get(url string) (int, string) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// served is what nginx answers on "/".
func (h *host) served() string {
	_, body := get(h.publicURL + "/")
	return body
}

// containers lists the running colours of this host's app.
func (h *host) containers() []string {
	h.t.Helper()
	var colours []string
	for _, colour := range []string{"blue", "green"} {
		out, err := exec.Command("docker", "ps", "-q", "--filter",
			"label=com.docker.compose.project="+h.app+"-"+colour).Output()
		require.NoError(h.t, err)
		if strings.TrimSpace(string(out)) != "" {
			colours = append(colours, colour)
		}
	}
	return colours
}

func (h *host) upstreamPort() string {
	b, err := os.ReadFile(h.upstream)
	require.NoError(h.t, err)
	return string(b)
}

package deploytest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploylab/deploylab/internal/nginxsite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFirstDeployGoesBlue: with nothing live the first deploy lands on blue and nginx serves it.
func TestFirstDeployGoesBlue(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	img := buildImage(t, map[string]string{"VERSION": "v1"})
	r := h.mustDeploy(img)
	assert.Contains(t, r.stderr, "live: none")
	assert.Equal(t, "v1", h.served())
	assert.Equal(t, []string{"blue"}, h.containers())
	assert.Equal(t, nginxsite.Upstream(h.blue), h.upstreamPort(), "deploy.sh and nginxsite.Upstream must agree")
}

// TestBlueGreenBlueThenRollbackAndStatus: colours alternate, the old colour is gone after each deploy, status
// reports it and rollback brings back the replaced image.
func TestBlueGreenBlueThenRollbackAndStatus(t *testing.T) {
	t.Parallel()
	// VERSION_PATH (opt-in): nginx must answer "/" as the new colour does.
	h := newHost(t, withEnv(map[string]string{"VERSION_PATH": "/"}))
	v1 := buildImage(t, map[string]string{"VERSION": "v1"})
	v2 := buildImage(t, map[string]string{"VERSION": "v2"})
	v3 := buildImage(t, map[string]string{"VERSION": "v3"})
	for _, step := range []struct{ img, version, colour string }{
		{v1, "v1", "blue"}, {v2, "v2", "green"}, {v3, "v3", "blue"},
	} {
		h.mustDeploy(step.img)
		assert.Equal(t, step.version, h.served())
		assert.Equal(t, []string{step.colour}, h.containers())
	}
	assert.Equal(t, nginxsite.Upstream(h.blue), h.upstreamPort())

	st := h.run("status")
	require.Equal(t, 0, st.code, st.stderr)
	assert.Contains(t, st.stdout, fmt.Sprintf("live:     blue (port %d)", h.blue))
	assert.Contains(t, st.stdout, "image:    "+v3)
	assert.Contains(t, st.stdout, "previous: "+v2)

	rb := h.run("rollback")
	require.Equal(t, 0, rb.code, rb.stderr)
	assert.Equal(t, "v2", h.served())
	assert.Equal(t, []string{"green"}, h.containers())
}

// TestRefusedDeploysKeepOldServing: an unhealthy image and a failing `nginx -t` both exit non-zero, print the
// health answers (and container logs), remove the new colour and leave the old one serving.
func TestRefusedDeploysKeepOldServing(t *testing.T) {
	t.Parallel()
	h := newHost(t, withEnv(map[string]string{"HEALTH_TIMEOUT": "4"}))
	v1 := buildImage(t, map[string]string{"VERSION": "v1"})
	h.mustDeploy(v1)

	bad := buildImage(t, map[string]string{"VERSION": "bad", "UNHEALTHY": "1"})
	r := h.run("deploy", bad)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "did not become healthy")
	assert.Contains(t, r.stderr, `{"status":"DOWN"}`, "health answers are printed")
	assert.Contains(t, r.stderr, "testapp bad listening", "container logs are printed")
	assert.Equal(t, "v1", h.served())
	assert.Equal(t, []string{"blue"}, h.containers())

	// A real `nginx -t` that fails: the same nginx.conf with a syntax error appended.
	broken := filepath.Join(t.TempDir(), "broken.conf")
	conf, err := os.ReadFile(h.nginx.Conf)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(broken, append(conf, []byte("this is not nginx;\n")...), 0o644))
	h.envEntries["NGINX_TEST_CMD"] = strings.Replace(h.nginx.Command("-t"), h.nginx.Conf, broken, 1)
	h.writeEnv()
	v2 := buildImage(t, map[string]string{"VERSION": "v2"})
	r = h.run("deploy", v2)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "nginx config test failed")
	assert.Equal(t, "v1", h.served())
	assert.Equal(t, []string{"blue"}, h.containers())
	assert.Equal(t, nginxsite.Upstream(h.blue), h.upstreamPort(), "the old include is back")
}

// startRun runs deploy.sh with args in the background and returns once its stderr shows marker.
func startRun(t *testing.T, h *host, marker string, args ...string) (*exec.Cmd, *strings.Builder, <-chan error) {
	t.Helper()
	cmd := h.command(args...)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); _ = pw.Close() }()
	var log strings.Builder
	seen := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		closed := false
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if !closed && strings.Contains(sc.Text(), marker) {
				close(seen)
				closed = true
			}
		}
	}()
	select {
	case <-seen:
	case err := <-done:
		t.Fatalf("deploy ended (%v) before %q:\n%s", err, marker, log.String())
	case <-time.After(3 * time.Minute):
		t.Fatalf("no %q in deploy output:\n%s", marker, log.String())
	}
	return cmd, &log, done
}

// TestSecondDeployRefusedNamingHolder: while a deploy runs, another is refused (exit 3) with the holder's pid
// and image; the first one still succeeds.
func TestSecondDeployRefusedNamingHolder(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	slow := buildImage(t, map[string]string{"VERSION": "slow", "START_DELAY": "3"})
	other := buildImage(t, map[string]string{"VERSION": "other"})
	first, _, done := startRun(t, h, "waiting for", "deploy", slow)
	r := h.run("deploy", other)
	assert.Equal(t, 3, r.code)
	assert.Contains(t, r.stderr, fmt.Sprintf("another deploy is running: pid=%d image=%s started=", first.Process.Pid, slow))
	st := h.run("status")
	assert.Contains(t, st.stdout, fmt.Sprintf("deploying: pid=%d", first.Process.Pid))
	require.NoError(t, <-done)
	assert.Equal(t, "slow", h.served())
}

// TestKilledDeployRecovers: SIGKILL at each step of a deploy, then a clean deploy succeeds with exactly one colour
// left; SIGTERM at the gate cleans up by itself and the old colour keeps serving.
func TestKilledDeployRecovers(t *testing.T) {
	t.Parallel()
	for _, marker := range []string{"live:", "Creating", "waiting for", "switching to", "draining"} {
		t.Run("SIGKILL at "+marker, func(t *testing.T) {
			t.Parallel()
			h := newHost(t)
			v1 := buildImage(t, map[string]string{"VERSION": "v1"})
			v2 := buildImage(t, map[string]string{"VERSION": "v2", "START_DELAY": "1"})
			v3 := buildImage(t, map[string]string{"VERSION": "v3"})
			h.mustDeploy(v1)
			cmd, _, done := startRun(t, h, marker, "deploy", v2)
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			<-done
			r := h.mustDeploy(v3)
			assert.Contains(t, r.stderr, "recovering after an interrupted run: pid=")
			assert.Equal(t, "v3", h.served())
			assert.Len(t, h.containers(), 1)
		})
	}
	t.Run("SIGTERM at the gate", func(t *testing.T) {
		t.Parallel()
		h := newHost(t)
		v1 := buildImage(t, map[string]string{"VERSION": "v1"})
		v2 := buildImage(t, map[string]string{"VERSION": "v2", "START_DELAY": "5"})
		h.mustDeploy(v1)
		cmd, log, done := startRun(t, h, "waiting for", "deploy", v2)
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		err := <-done
		require.Error(t, err)
		assert.Equal(t, 143, cmd.ProcessState.ExitCode(), log.String())
		assert.Equal(t, "v1", h.served())
		assert.Equal(t, []string{"blue"}, h.containers())
		_, statErr := os.Stat(filepath.Join(h.stateDir, "deploy.holder"))
		assert.True(t, os.IsNotExist(statErr), "the holder file is removed")
	})
}

// TestUsageErrors: bad image references and bad configuration exit 2 with a message naming the value.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "invalid-uppercase-image", args: []string{"deploy", "App:v1"}, want: `IMAGE "App:v1" is not a docker image reference`},
		{name: "invalid-shell-image", args: []string{"deploy", "app;rm -rf /"}, want: `is not a docker image reference`},
		{name: "invalid-empty-tag", args: []string{"deploy", "app:"}, want: `IMAGE "app:"`},
		{name: "invalid-no-image", args: []string{"deploy"}, want: "deploy takes exactly one IMAGE"},
		{name: "invalid-command", args: []string{"launch"}, want: `unknown command "launch"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.run(tt.args...)
			assert.Equal(t, 2, r.code)
			assert.Contains(t, r.stderr, tt.want)
		})
	}
	t.Run("invalid-config", func(t *testing.T) {
		bad := newHost(t, withEnv(map[string]string{"BLUE_PORT": "99999", "SWITCH": "haproxy"}))
		r := bad.run("deploy", "registry.example.com:5000/team/app:1.2.3")
		assert.Equal(t, 2, r.code)
		assert.Contains(t, r.stderr, `BLUE_PORT="99999": want a port 1-65535`)
		assert.Contains(t, r.stderr, `SWITCH="haproxy": want nft, nginx or alb`)
	})
}

// TestStatusAsDockerGroupMember: status works for a non-root user in the docker group (the admin): it reads the
// recorded state and docker ps -a, nothing only root can see.
func TestStatusAsDockerGroupMember(t *testing.T) {
	t.Parallel()
	setpriv, err := exec.LookPath("setpriv")
	require.NoError(t, err, "setpriv (util-linux) is needed to run as another user")
	h := newHost(t)
	v1 := buildImage(t, map[string]string{"VERSION": "v1"})
	h.mustDeploy(v1)
	// t.TempDir creates 0700 directories; the unprivileged user must read the env file and state.
	for d := h.stateDir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		require.NoError(t, os.Chmod(d, 0o755))
	}
	gid := dockerGID(t)
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--groups="+gid, "--inh-caps=-all",
		"bash", worldReadableScript(t), "status")
	cmd.Env = append(os.Environ(), "DEPLOYLAB_ENV_FILE="+h.envFile)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), fmt.Sprintf("live:     blue (port %d)", h.blue))
	assert.Contains(t, string(out), "image:    "+v1)
}

func dockerGID(t *testing.T) string {
	b, err := os.ReadFile("/etc/group")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Split(line, ":"); len(f) >= 3 && f[0] == "docker" {
			return f[2]
		}
	}
	t.Fatal("no docker group")
	return ""
}

// worldReadableScript copies deploy.sh where an unprivileged user can read it: the checkout itself may sit
// below a 0700 directory (CI clones into one).
func worldReadableScript(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "deploylab-script-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	script, err := os.ReadFile(deployScript(t))
	require.NoError(t, err)
	path := filepath.Join(dir, "deploy.sh")
	require.NoError(t, os.WriteFile(path, script, 0o755))
	return path
}

package acceptance

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var settings = Settings{CheckTimeout: time.Second, DestroyTimeout: time.Second, DestroyAttempts: 3, RetryWait: time.Millisecond}

type fakeStack struct {
	mu                      sync.Mutex
	upErr                   error
	destroyFailures         int // the first N destroys fail
	destroys, removes       int
	destroyCtxAlreadyCancel bool
}

func (f *fakeStack) Up(context.Context) (Outputs, error) {
	return Outputs{"appPublicIp": "203.0.113.5", "jenkinsUrl": "http://203.0.113.6:8080/", "jenkinsAdminPasswordParameter": "/p"}, f.upErr
}

func (f *fakeStack) Destroy(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.destroys++
	if ctx.Err() != nil {
		f.destroyCtxAlreadyCancel = true
		return ctx.Err()
	}
	if f.destroys <= f.destroyFailures {
		return errors.New("DependencyViolation")
	}
	return nil
}

func (f *fakeStack) Remove(context.Context) error { f.removes++; return nil }

func checks(results ...func(context.Context) error) func(Outputs) []Check {
	return func(Outputs) []Check {
		var c []Check
		for i, r := range results {
			c = append(c, Check{Name: string(rune('a' + i)), Run: r})
		}
		return c
	}
}

func ok(context.Context) error { return nil }

// TestRunAlwaysDestroys: whatever happens between up and the end, the stack is destroyed, and removed only then.
func TestRunAlwaysDestroys(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name           string
		ctx            context.Context
		stack          *fakeStack
		checks         func(Outputs) []Check
		exit, destroys int
		removed        bool
		failed         []string
		passed         int
	}{
		{"all pass", context.Background(), &fakeStack{}, checks(ok, ok), 0, 1, true, nil, 2},
		{"a check fails", context.Background(), &fakeStack{}, checks(ok, func(context.Context) error { return errors.New("502") }), 1, 1, true, []string{"b"}, 1},
		{"a check panics", context.Background(), &fakeStack{}, checks(func(context.Context) error { panic("nil map") }, ok), 1, 1, true, []string{"a"}, 1},
		{"a check hangs past its timeout", context.Background(), &fakeStack{}, checks(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }), 1, 1, true, []string{"a"}, 0},
		{"up fails half-way", context.Background(), &fakeStack{upErr: errors.New("VpcLimitExceeded")}, checks(ok), 1, 1, true, nil, 0},
		{"run cancelled", cancelled, &fakeStack{}, checks(ok), 1, 1, true, []string{"a"}, 0},
		{"destroy retried", context.Background(), &fakeStack{destroyFailures: 2}, checks(ok), 0, 3, true, nil, 1},
		{"destroy keeps failing", context.Background(), &fakeStack{destroyFailures: 5}, checks(ok), 3, 3, false, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var log bytes.Buffer
			res := Run(tc.ctx, tc.stack, tc.checks, settings, &log)
			require.Equal(t, tc.exit, res.ExitCode(), log.String())
			require.Equal(t, tc.destroys, tc.stack.destroys)
			require.False(t, tc.stack.destroyCtxAlreadyCancel, "destroy must get a context of its own")
			require.Equal(t, tc.removed, tc.stack.removes == 1)
			require.Equal(t, tc.failed, res.Failed)
			require.Equal(t, tc.passed, res.Passed)
			if tc.exit == 3 {
				require.Contains(t, log.String(), "THE STACK IS LEFT RUNNING")
			}
		})
	}
}

type fakeProbes struct{ host, jenkins, gke []string }

func (f *fakeProbes) Host(_ context.Context, target, alb string) error {
	f.host = append(f.host, target, alb)
	return nil
}
func (f *fakeProbes) Jenkins(_ context.Context, url, param string) error {
	f.jenkins = append(f.jenkins, url, param)
	return nil
}
func (f *fakeProbes) GKE(_ context.Context, kubeconfig string) error {
	f.gke = append(f.gke, kubeconfig)
	return nil
}

// TestPlan: the checks follow the stack, and a missing output fails its check instead of skipping it.
func TestPlan(t *testing.T) {
	t.Parallel()
	full := Outputs{"appPublicIp": "203.0.113.5", "albDnsName": "alb-1.eu-central-1.elb.amazonaws.com",
		"jenkinsUrl": "http://203.0.113.6:8080/", "jenkinsAdminPasswordParameter": "/deploylab/deploylab/accept-1/jenkins/admin-password",
		"kubeconfig": "apiVersion: v1"}
	p := &fakeProbes{}
	plan := Plan(full, true, p)
	require.Len(t, plan, 3)
	for _, c := range plan {
		require.NoError(t, c.Run(context.Background()), c.Name)
	}
	require.Equal(t, []string{"deploy@203.0.113.5", "alb-1.eu-central-1.elb.amazonaws.com"}, p.host)
	require.Equal(t, []string{full["jenkinsUrl"], full["jenkinsAdminPasswordParameter"]}, p.jenkins)
	require.Equal(t, []string{"apiVersion: v1"}, p.gke)

	require.Len(t, Plan(full, false, p), 2, "no GKE check without GKE")
	for _, c := range Plan(Outputs{}, true, &fakeProbes{}) {
		err := c.Run(context.Background())
		require.Error(t, err, c.Name)
		require.Contains(t, err.Error(), "is missing")
	}
}

func TestStackConfig(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	o := Options{RunID: "12345", Region: "eu-central-1", AdminCIDR: "198.51.100.7/32",
		SSHPublicKey: "ssh-ed25519 AAAAC3Nza run", Now: now, TTL: 4 * time.Hour}
	c, err := StackConfig(o)
	require.NoError(t, err)
	require.Equal(t, "accept-12345", StackName(o.RunID))
	require.Equal(t, "training", c["deploylab:env"])
	require.Equal(t, "2026-12-07T08:00:00Z", c["deploylab:expiresAt"])
	require.Equal(t, "198.51.100.7/32", c["deploylab:adminCidrs[0]"])
	require.Equal(t, "true", c["deploylab:jenkins.enabled"])
	require.Equal(t, "false", c["deploylab:gke.enabled"])
	o.GCPProject = "my-project"
	c, err = StackConfig(o)
	require.NoError(t, err)
	require.Equal(t, "true", c["deploylab:gke.enabled"])
	require.Equal(t, "my-project", c["deploylab:gke.project"])

	_, err = StackConfig(Options{RunID: "a b", AdminCIDR: "0.0.0.0/0", SSHPublicKey: "ssh-rsa AAAA", TTL: time.Minute})
	require.Error(t, err)
	for _, want := range []string{`run id "a b"`, "region is required", `admin CIDR "0.0.0.0/0"`, "ssh-ed25519", "TTL 1m0s"} {
		require.Contains(t, err.Error(), want)
	}
}

// TestDockerOverSSH runs the real shim with an ssh stand-in that behaves as ssh does with its command arguments
// (joins them with spaces and hands the string to the remote user's shell), so the quoting is checked for real.
func TestDockerOverSSH(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fakeSSH := filepath.Join(dir, "ssh")
	// Options (-n, -o X) and the destination are dropped; the rest is one remote command string. sudo is a no-op.
	require.NoError(t, os.WriteFile(fakeSSH, []byte(`#!/usr/bin/env bash
set -o errexit -o nounset -o pipefail
printf '%s\n' "$*" >>"${LOG:?}"
while [[ $# -gt 0 ]]; do
  case "$1" in -n) shift ;; -o|-i) shift 2 ;; *@*) shift; break ;; *) shift ;; esac
done
sudo() { "$@"; }
export -f sudo
exec bash -c "$*"
`), 0o755))
	log := filepath.Join(dir, "log")
	shim := filepath.Join("docker-over-ssh.sh")
	env := append(os.Environ(), "SSH="+fakeSSH, "LOG="+log, "SSH_OPTS=-i /k -o UserKnownHostsFile=/kh")

	script := `printf '%s|' "it's" "$HOME" 'a  b'; echo "$(cat)"`
	cmd := exec.Command("bash", shim, "exec", "-i", "deploy@203.0.113.5", "bash", "-o", "pipefail", "-c", script)
	cmd.Env, cmd.Stdin = env, strings.NewReader("from stdin")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, "it's|"+os.Getenv("HOME")+"|a  b|from stdin\n", string(out))

	cmd = exec.Command("bash", shim, "exec", "deploy@203.0.113.5", "bash", "-c", "exit 7")
	cmd.Env = env
	err = cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	require.Equal(t, 7, exit.ExitCode(), "the remote exit code comes back")

	b, err := os.ReadFile(log)
	require.NoError(t, err)
	require.Contains(t, string(b), "-o BatchMode=yes -o ConnectTimeout=15 -i /k -o UserKnownHostsFile=/kh deploy@203.0.113.5 sudo bash")
	require.True(t, strings.HasPrefix(strings.Split(string(b), "\n")[1], "-n "), "without -i stdin is closed")

	cmd = exec.Command("bash", shim, "cp", "x", "y")
	cmd.Env = env
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), `unsupported docker command "cp"`)
}

// TestShellcheck runs the real shellcheck on the shim.
func TestShellcheck(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("shellcheck", "docker-over-ssh.sh").CombinedOutput()
	require.NoError(t, err, "shellcheck (apt-get install shellcheck):\n%s", out)
}

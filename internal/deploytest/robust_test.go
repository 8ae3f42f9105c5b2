package deploytest

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// containerState is docker's state of the colour's container ("" when there is none).
func (h *host) containerState(colour string) string {
	h.t.Helper()
	out, err := exec.Command("docker", "ps", "-a", "--filter", "label=com.docker.compose.project="+h.app+"-"+colour,
		"--format", "{{.State}}").Output()
	require.NoError(h.t, err)
	return strings.TrimSpace(string(out))
}

// TestAppWithNothingOnRoot: an app with nothing on "/" (404, a new body every time, as Spring Boot's error page)
// deploys twice with the settings the stack renders: SWITCH=nft, deploy.sh's default HEALTH_PATH (Spring's
// readiness group) and no VERSION_PATH.
func TestAppWithNothingOnRoot(t *testing.T) {
	t.Parallel()
	h := newHost(t, withNFT())
	delete(h.envEntries, "HEALTH_PATH")
	h.writeEnv()
	env := func(v string) map[string]string {
		return map[string]string{"VERSION": v, "ROOT_404": "1", "HEALTH_PATH": "/actuator/health/readiness"}
	}
	v1, v2 := buildImage(t, env("v1")), buildImage(t, env("v2"))
	h.mustDeploy(v1)
	r := h.mustDeploy(v2)
	assert.Contains(t, r.stderr, "/actuator/health/readiness")
	code, _ := get(h.publicURL + "/")
	assert.Equal(t, http.StatusNotFound, code)
	_, version := get(h.publicURL + "/version")
	assert.Equal(t, "v2", version)
	assert.Equal(t, []string{"green"}, h.containers())
}

// TestDroppedSessionFails: the SSH session that reads the log goes away (its stderr pipe is closed) while the
// deploy waits for health, or right when it switches. The next log line raises SIGPIPE: the deploy fails
// (non-zero), the old version keeps serving and only its container is left.
func TestDroppedSessionFails(t *testing.T) {
	t.Parallel()
	for _, marker := range []string{"waiting for", "switching to"} {
		t.Run(marker, func(t *testing.T) {
			t.Parallel()
			h := newHost(t, withNFT())
			v1 := buildImage(t, map[string]string{"VERSION": "v1"})
			v2 := buildImage(t, map[string]string{"VERSION": "v2"})
			h.mustDeploy(v1)

			pr, pw, err := os.Pipe()
			require.NoError(t, err)
			cmd := h.command("deploy", v2)
			cmd.Stderr = pw
			require.NoError(t, cmd.Start())
			_ = pw.Close()
			sc := bufio.NewScanner(pr)
			var seen strings.Builder
			for sc.Scan() {
				seen.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), marker) {
					break
				}
			}
			require.Contains(t, seen.String(), marker)
			_ = pr.Close() // the session is gone
			err = cmd.Wait()
			require.Error(t, err, "a deploy whose session dropped must not report success:\n%s", seen.String())
			assert.NotEqual(t, 0, cmd.ProcessState.ExitCode())
			assert.Equal(t, "v1", h.served())
			assert.Equal(t, []string{"blue"}, h.containers())
			assert.Equal(t, fmt.Sprint(h.blue), h.nftRulePort())
		})
	}
}

// TestLiveColourNeverRemoved: the live colour comes from the recorded state and docker ps -a. A live container in
// restart back-off survives a failed deploy, and `restore` with the live container stopped keeps it and starts it.
func TestLiveColourNeverRemoved(t *testing.T) {
	t.Parallel()
	t.Run("crash-looping live survives a failed deploy", func(t *testing.T) {
		t.Parallel()
		h := newHost(t, withNFT(), withEnv(map[string]string{"HEALTH_TIMEOUT": "3"}))
		flaky := buildImage(t, map[string]string{"VERSION": "flaky", "CRASH_AFTER": "2"})
		bad := buildImage(t, map[string]string{"VERSION": "bad", "UNHEALTHY": "1"})
		h.mustDeploy(flaky)
		require.Eventually(t, func() bool { code, _ := get(h.publicURL + "/"); return code != http.StatusOK },
			20*time.Second, 100*time.Millisecond, "the live container crashes")
		r := h.run("deploy", bad)
		assert.Equal(t, 1, r.code, r.stderr)
		assert.Contains(t, r.stderr, "live: blue")
		assert.NotEmpty(t, h.containerState("blue"), "the crash-looping live container is kept")
		assert.Empty(t, h.containerState("green"))
		assert.Equal(t, fmt.Sprint(h.blue), h.nftRulePort())
	})
	t.Run("restore starts a stopped live colour", func(t *testing.T) {
		t.Parallel()
		h := newHost(t, withNFT())
		v1 := buildImage(t, map[string]string{"VERSION": "v1"})
		v2 := buildImage(t, map[string]string{"VERSION": "v2"})
		h.mustDeploy(v1)
		h.mustDeploy(v2)
		// A reboot: the kernel's rules are gone and the live container is stopped.
		require.NoError(t, exec.Command("nft", "delete", "table", "ip", h.nftTable()).Run())
		ids, err := exec.Command("docker", "ps", "-q", "--filter", "label=com.docker.compose.project="+h.app+"-green").Output()
		require.NoError(t, err)
		require.NoError(t, exec.Command("docker", "stop", "-t", "5", strings.TrimSpace(string(ids))).Run())
		code, _ := get(h.publicURL + "/")
		assert.Equal(t, http.StatusBadGateway, code)
		st := h.run("status")
		assert.Contains(t, st.stdout, fmt.Sprintf("live:     green (port %d)", h.green), "a stopped live colour is still live")
		assert.Contains(t, st.stdout, "no rule (run deploy.sh restore)")

		r := h.run("restore")
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, "running", h.containerState("green"))
		assert.Equal(t, fmt.Sprint(h.green), h.nftRulePort())
		require.Eventually(t, func() bool { return h.served() == "v2" }, 10*time.Second, 100*time.Millisecond)
	})
}

// TestRootRefusedWhereTheAdminOwnsTheState: with the state directory the admin's, a root run is refused before it
// writes anything (so the admin, the CI key and the boot-time restore are not locked out), and the admin's own
// restore and status still work afterwards.
func TestRootRefusedWhereTheAdminOwnsTheState(t *testing.T) {
	t.Parallel()
	const admin = 65534
	h := newHost(t)
	v1 := buildImage(t, map[string]string{"VERSION": "v1"})
	h.mustDeploy(v1)
	for d := h.stateDir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		require.NoError(t, os.Chmod(d, 0o755))
	}
	require.NoError(t, filepath.Walk(h.stateDir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, admin, admin)
	}))

	for _, args := range [][]string{{"deploy", v1}, {"rollback"}, {"restore"}} {
		r := h.run(args...)
		assert.Equal(t, 2, r.code, r.stderr)
		assert.Contains(t, r.stderr, "not as root: "+h.stateDir+" belongs to nobody")
		assert.Contains(t, r.stderr, "sudo -u nobody ")
	}
	require.NoError(t, filepath.Walk(h.stateDir, func(p string, fi os.FileInfo, err error) error {
		require.NoError(t, err)
		assert.Equal(t, uint32(admin), fi.Sys().(*syscall.Stat_t).Uid, "%s is still the admin's", p)
		return nil
	}))

	for _, cmd := range []string{"restore", "status"} {
		c := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--groups="+dockerGID(t), "--inh-caps=-all",
			"bash", worldReadableScript(t), cmd)
		c.Env = append(os.Environ(), "DEPLOYLAB_ENV_FILE="+h.envFile)
		out, err := c.CombinedOutput()
		require.NoError(t, err, "%s as the admin: %s", cmd, out)
	}
	assert.Equal(t, "v1", h.served())
}

// TestPinnedByImage: deploy.sh runs the image it resolved, not the tag: a tag moved to new code (a re-pushed
// :latest) deploys the new code, and rollback brings back exactly the replaced image although its tag moved.
// With PULL=always a tag that cannot be pulled fails the deploy (compose would otherwise run a stale local copy).
func TestPinnedByImage(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	v1 := buildImage(t, map[string]string{"VERSION": "v1"})
	v2 := buildImage(t, map[string]string{"VERSION": "v2"})
	id := func(ref string) string {
		out, err := exec.Command("docker", "image", "inspect", "-f", "{{.Id}}", ref).Output()
		require.NoError(t, err)
		return strings.TrimSpace(string(out))
	}
	tag := "deploylab-test/moving:latest-" + uniqueID()
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", tag).Run() })
	retag := func(src string) { require.NoError(t, exec.Command("docker", "tag", src, tag).Run()) }

	retag(v1)
	r := h.mustDeploy(tag)
	assert.Contains(t, r.stderr, id(v1))
	retag(v2)
	h.mustDeploy(tag)
	assert.Equal(t, "v2", h.served())
	st := h.run("status")
	assert.Contains(t, st.stdout, fmt.Sprintf("image:    %s (%s)", tag, id(v2)))
	assert.Contains(t, st.stdout, fmt.Sprintf("previous: %s (%s)", tag, id(v1)))

	rb := h.run("rollback")
	require.Equal(t, 0, rb.code, rb.stderr)
	assert.Equal(t, "v1", h.served(), "rollback runs the replaced image, not what its tag points at now")

	h.envEntries["PULL"] = "always"
	h.writeEnv()
	r = h.run("deploy", tag)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "docker pull "+tag+" failed")
	assert.Equal(t, "v1", h.served())
	assert.Equal(t, []string{"blue"}, h.containers())
}

// TestSSHForcedCommand: `deploy.sh ssh` runs SSH_ORIGINAL_COMMAND only if it is deploy IMAGE, rollback or status
// (after an optional deploy.sh or its path), and never through a shell.
func TestSSHForcedCommand(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	v1 := buildImage(t, map[string]string{"VERSION": "v1"})
	canary := filepath.Join(t.TempDir(), "canary")
	ssh := func(command string) result {
		h.extraEnv = map[string]string{"SSH_ORIGINAL_COMMAND": command}
		defer func() { h.extraEnv = nil }()
		return h.run("ssh")
	}
	r := ssh("deploy.sh deploy " + v1)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "v1", h.served())
	for _, allowed := range []string{"status", "deploy.sh status", "/usr/local/bin/deploy.sh status", deployScript(t) + " status"} {
		r := ssh(allowed)
		assert.Equal(t, 0, r.code, "%q: %s", allowed, r.stderr)
		assert.Contains(t, r.stdout, "live:     blue", allowed)
	}
	for _, refused := range []string{"", "bash", "restore", "rollback now", "status; touch " + canary,
		"status && touch " + canary, "deploy $(touch " + canary + ")", "deploy `touch " + canary + "`",
		"status\ntouch " + canary, "deploy a b", "sh -c 'touch " + canary + "'", "deploy.sh ssh"} {
		r := ssh(refused)
		assert.Equal(t, 2, r.code, "%q: %s", refused, r.stderr)
		assert.Regexp(t, "refused|not a docker image reference", r.stderr, refused)
	}
	_, err := os.Stat(canary)
	assert.True(t, os.IsNotExist(err), "nothing of SSH_ORIGINAL_COMMAND ran in a shell")
	assert.Equal(t, []string{"blue"}, h.containers())

	// With the stack's repository set, the key deploys only that repository's images, by digest.
	const repo = "111122223333.dkr.ecr.eu-central-1.amazonaws.com/app"
	h.envEntries["SSH_IMAGE_REPOSITORY"] = repo
	h.writeEnv()
	digest := "@sha256:" + strings.Repeat("0", 64)
	for _, refused := range []string{v1, repo + ":latest", "evil.example/app" + digest, repo + "x" + digest} {
		r := ssh("deploy " + refused)
		assert.Equal(t, 2, r.code, "%q: %s", refused, r.stderr)
		assert.Contains(t, r.stderr, "this key deploys only "+repo+"@sha256:DIGEST", refused)
	}
	r = ssh("deploy " + repo + digest) // allowed by the key; no registry here, so the deploy itself fails
	assert.NotContains(t, r.stderr, "this key deploys only")
	assert.NotEqual(t, 0, r.code)
	assert.Equal(t, "v1", h.served(), "the refused and the failed deploy left v1 serving")
	r = ssh("status")
	assert.Equal(t, 0, r.code, r.stderr)
}

// TestStatusTakesNoLock: status never touches the deploy lock (with flock run by status, a deploy starting at that
// moment exits 3): FLOCK is a recorder that must stay unused.
func TestStatusTakesNoLock(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	dir := t.TempDir()
	rec := filepath.Join(dir, "flock")
	require.NoError(t, os.WriteFile(rec, []byte("#!/bin/sh\necho \"$@\" >>"+filepath.Join(dir, "calls")+"\nexec flock \"$@\"\n"), 0o755))
	h.extraEnv = map[string]string{"FLOCK": rec}
	v1 := buildImage(t, map[string]string{"VERSION": "v1"})
	h.mustDeploy(v1)
	require.FileExists(t, filepath.Join(dir, "calls"), "the recorder works: deploy takes the lock")
	require.NoError(t, os.Remove(filepath.Join(dir, "calls")))
	st := h.run("status")
	require.Equal(t, 0, st.code, st.stderr)
	assert.Contains(t, st.stdout, "live:     blue")
	assert.NoFileExists(t, filepath.Join(dir, "calls"), "status took the lock")
}

// TestDrainWaitsForRequestsInFlight: slow requests (1.5 s, longer than the seed's fixed 0.5 s drain) keep
// arriving through nginx (6 connections, started 0.25 s apart, so some request is always in flight) while two
// deploys switch colours; the app exits at once on SIGTERM, so a request still in flight on the old colour when
// it is stopped would fail. None does. (With the seed's fixed 0.5 s drain, this test fails.)
func TestDrainWaitsForRequestsInFlight(t *testing.T) {
	t.Parallel()
	h := newHost(t, withNFT(), withEnv(map[string]string{"DRAIN_SECONDS": "", "STOP_TIMEOUT": "10"}))
	env := func(v string) map[string]string {
		return map[string]string{"VERSION": v, "SLOW_MS": "1500", "EXIT_ON_TERM": "1"}
	}
	images := []string{buildImage(t, env("even")), buildImage(t, env("odd"))}
	h.mustDeploy(images[0])
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	load := runLoad(ctx, strings.TrimPrefix(h.publicURL, "http://"), 6, 1, 1500*time.Millisecond)
	time.Sleep(time.Second)
	for i := 1; i <= 2; i++ {
		r := h.mustDeploy(images[i%2])
		assert.Contains(t, r.stderr, "drained")
	}
	time.Sleep(2 * time.Second)
	cancel()
	load.wait()
	s := load.summarise(false)
	assert.Positive(t, s.total)
	assert.Zero(t, s.failed, "requests lost to the switch (of %d)", s.total)
}

// TestPruneKeepsLiveAndPrevious: with PRUNE=1 each deploy removes its repository's images older than the previous
// one, never the live one, the previous one (rollback deploys it) nor a newer one built for a later deploy; a
// rollback after three deploys still works, and the image it leaves live survives the next prune.
func TestPruneKeepsLiveAndPrevious(t *testing.T) {
	t.Parallel()
	h := newHost(t, withEnv(map[string]string{"PRUNE": "1"}))
	repo := "deploylab-test/prune-" + uniqueID()
	var images []string
	for _, v := range []string{"v1", "v2", "v3"} {
		images = append(images, buildImageIn(t, repo, map[string]string{"VERSION": v}))
	}
	left := func() []string {
		out, err := exec.Command("docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", repo).Output()
		require.NoError(t, err)
		return strings.Fields(string(out))
	}
	h.mustDeploy(images[0])
	h.mustDeploy(images[1])
	assert.ElementsMatch(t, images, left(), "two deploys: live and previous kept, v3 (built for a later deploy) too")
	h.mustDeploy(images[2])
	assert.ElementsMatch(t, images[1:], left(), "v1 is older than the previous one (v2): pruned")
	r := h.run("rollback")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "v2", h.served())
	assert.ElementsMatch(t, images[1:], left(), "after the rollback v2 is live and v3 previous: both kept")
}


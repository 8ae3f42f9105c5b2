package deploytest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploylab/deploylab/internal/nginxsite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keepalive is one client connection to nginx that is reused for every request, as a browser or wrk does.
type keepalive struct {
	c  net.Conn
	rd *bufio.Reader
}

func dialKeepalive(t *testing.T, h *host) *keepalive {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(h.publicURL, "http://"), 3*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return &keepalive{c: c, rd: bufio.NewReader(c)}
}

// get asks "/" on the same connection; an error means nginx closed it.
func (k *keepalive) get() (string, error) {
	_ = k.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := k.c.Write([]byte("GET / HTTP/1.1\r\nHost: test\r\n\r\n")); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(k.rd, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return strings.TrimSpace(string(b)), err
}

// servedBy is the version the colour's own port answers on "/" ("" when nothing answers).
func (h *host) servedBy(colour string) string {
	port := h.blue
	if colour == "green" {
		port = h.green
	}
	_, body := get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	return body
}

func (h *host) portOf(colour string) string {
	if colour == "green" {
		return fmt.Sprint(h.green)
	}
	return fmt.Sprint(h.blue)
}

// TestNFTBlueGreenBlue: with SWITCH=nft the first deploy creates the app's table with a rule to blue and points
// nginx at the switch port once; later deploys only move the rule. One client keepalive connection opened
// before the switches sees every new version on the same connection: nginx was never reloaded (a reload closes
// idle keepalive connections) and each new upstream connection went to the new colour.
func TestNFTBlueGreenBlue(t *testing.T) {
	t.Parallel()
	h := newHost(t, withNFT())
	v1 := buildImage(t, map[string]string{"VERSION": "v1"})
	v2 := buildImage(t, map[string]string{"VERSION": "v2"})
	v3 := buildImage(t, map[string]string{"VERSION": "v3"})

	r := h.mustDeploy(v1)
	assert.Contains(t, r.stderr, "live: none")
	assert.Equal(t, "v1", h.served())
	assert.Equal(t, []string{"blue"}, h.containers())
	assert.Equal(t, fmt.Sprint(h.blue), h.nftRulePort())
	assert.Equal(t, nginxsite.Upstream(h.switchPort), h.upstreamPort())

	conn := dialKeepalive(t, h)
	got, err := conn.get()
	require.NoError(t, err)
	assert.Equal(t, "v1", got)
	for _, step := range []struct{ img, version, colour string }{{v2, "v2", "green"}, {v3, "v3", "blue"}} {
		r := h.mustDeploy(step.img)
		assert.NotContains(t, r.stderr, "pointing the nginx upstream", "no reload on a switch")
		assert.Equal(t, []string{step.colour}, h.containers())
		assert.Equal(t, h.portOf(step.colour), h.nftRulePort(), "the rule points at the live colour")
		got, err := conn.get()
		require.NoError(t, err, "the client's keepalive connection survives the switch")
		assert.Equal(t, step.version, got)
	}
	assert.Equal(t, nginxsite.Upstream(h.switchPort), h.upstreamPort(), "the include never changes")

	st := h.run("status")
	require.Equal(t, 0, st.code, st.stderr)
	assert.Contains(t, st.stdout, fmt.Sprintf("live:     blue (port %d)", h.blue))
	assert.Contains(t, st.stdout, fmt.Sprintf("switch:   nft 127.0.0.1:%d -> %d", h.switchPort, h.blue))
	assert.Contains(t, st.stdout, "previous: "+v2)
}

// TestNFTUnhealthyRefused: an unhealthy image exits non-zero, the rule still points at the old colour, which
// still serves, and the new colour is gone.
func TestNFTUnhealthyRefused(t *testing.T) {
	t.Parallel()
	h := newHost(t, withNFT(), withEnv(map[string]string{"HEALTH_TIMEOUT": "4"}))
	v1 := buildImage(t, map[string]string{"VERSION": "v1"})
	bad := buildImage(t, map[string]string{"VERSION": "bad", "UNHEALTHY": "1"})
	h.mustDeploy(v1)
	r := h.run("deploy", bad)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "did not become healthy")
	assert.Contains(t, r.stderr, `{"status":"DOWN"}`)
	assert.Equal(t, "v1", h.served())
	assert.Equal(t, []string{"blue"}, h.containers())
	assert.Equal(t, fmt.Sprint(h.blue), h.nftRulePort())
}

// TestNFTKilledDeployRecovers: SIGKILL at each step of a deploy; `restore` then leaves exactly one colour, the
// rule pointing at it and nginx serving it; a clean deploy after that succeeds and moves the rule.
func TestNFTKilledDeployRecovers(t *testing.T) {
	t.Parallel()
	for _, marker := range []string{"live:", "Creating", "waiting for", "switching to", "draining"} {
		t.Run("SIGKILL at "+marker, func(t *testing.T) {
			t.Parallel()
			h := newHost(t, withNFT())
			v1 := buildImage(t, map[string]string{"VERSION": "v1"})
			v2 := buildImage(t, map[string]string{"VERSION": "v2", "START_DELAY": "1"})
			v3 := buildImage(t, map[string]string{"VERSION": "v3"})
			h.mustDeploy(v1)
			cmd, _, done := startRun(t, h, marker, "deploy", v2)
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			<-done

			r := h.run("restore")
			require.Equal(t, 0, r.code, r.stderr)
			assert.Contains(t, r.stderr, "recovering after an interrupted run: pid=")
			live := h.containers()
			require.Len(t, live, 1, r.stderr)
			assert.Equal(t, h.portOf(live[0]), h.nftRulePort(), "the rule points at the live colour")
			assert.Equal(t, h.servedBy(live[0]), h.served())

			d := h.mustDeploy(v3)
			assert.NotContains(t, d.stderr, "recovering")
			assert.Equal(t, "v3", h.served())
			live = h.containers()
			require.Len(t, live, 1)
			assert.Equal(t, h.portOf(live[0]), h.nftRulePort())
		})
	}
}

// TestNFTConfigErrors: the switch port must differ from the colours' ports; a missing nft binary fails the
// deploy with the command in the message and leaves nothing running.
func TestNFTConfigErrors(t *testing.T) {
	t.Parallel()
	h := newHost(t, withNFT())
	h.envEntries["SWITCH_PORT"] = fmt.Sprint(h.blue)
	h.writeEnv()
	r := h.run("deploy", "registry.example.com/app:1")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, fmt.Sprintf(`SWITCH_PORT="%d": want a port other than BLUE_PORT and GREEN_PORT`, h.blue))

	h.envEntries["SWITCH_PORT"] = fmt.Sprint(h.switchPort)
	h.envEntries["NFT"] = "/nonexistent/nft"
	h.writeEnv()
	v1 := buildImage(t, map[string]string{"VERSION": "v1"})
	r = h.run("deploy", v1)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "nft failed to point port")
	assert.Contains(t, r.stderr, "/nonexistent/nft -f")
	assert.Empty(t, h.containers())
}

package deploytest

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

const (
	listenerARN = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:listener/app/dl/50dc6c495c0c9188/f2f7dc8efc522ab2"
	tgBlueARN   = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/dl-blue/73e2d6bc24d8a067"
	tgGreenARN  = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/dl-green/8f1c2d3e4a5b6c7d"
	// awsCLI is Debian's awscli: another `aws` (a pyenv shim) may come first on PATH.
	awsCLI = "/usr/bin/aws"
)

// albNet is the ALB's own network: a namespace joined to the host by a veth pair. The host side has hostIP (the
// instance's private address, where the colours must be published), the ALB side albIP (where clients reach the
// ALB). Functions given to in run on a thread inside the namespace, so the sockets they open belong to it.
type albNet struct {
	name, hostIP, albIP string
	jobs                chan func()
	quit                chan struct{} // closed at cleanup: the namespace's thread ends
}

func newALBNet(t *testing.T) *albNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the ALB tests create a network namespace and a veth pair: run them as root")
	}
	id := uniqueID()
	raw, err := hex.DecodeString(id[:4])
	require.NoError(t, err)
	x, y := raw[0], raw[1]&^3 // a /30 of 10.213.0.0/16 per test
	n := &albNet{name: "dlalb-" + id, hostIP: fmt.Sprintf("10.213.%d.%d", x, y+1), albIP: fmt.Sprintf("10.213.%d.%d", x, y+2),
		jobs: make(chan func()), quit: make(chan struct{})}
	hostIf, albIf := "vh"+id, "va"+id
	ip := func(args ...string) {
		t.Helper()
		out, err := exec.Command("ip", args...).CombinedOutput()
		require.NoError(t, err, "ip %s: %s", strings.Join(args, " "), out)
	}
	ip("netns", "add", n.name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.name).Run() }) // takes the veth pair with it
	ip("link", "add", hostIf, "type", "veth", "peer", "name", albIf)
	ip("link", "set", albIf, "netns", n.name)
	ip("addr", "add", n.hostIP+"/30", "dev", hostIf)
	ip("link", "set", hostIf, "up")
	ip("-n", n.name, "addr", "add", n.albIP+"/30", "dev", albIf)
	ip("-n", n.name, "link", "set", albIf, "up")
	ip("-n", n.name, "link", "set", "lo", "up")

	ready := make(chan error)
	go func() {
		// Never unlocked: the thread leaves the host's namespace for good and ends with this goroutine.
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + n.name)
		if err == nil {
			if serr := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); serr != nil {
				err = fmt.Errorf("setns %s: %w", n.name, serr)
			}
			_ = f.Close()
		}
		ready <- err
		if err != nil {
			return
		}
		for {
			select {
			case job := <-n.jobs:
				job()
			case <-n.quit:
				return
			}
		}
	}()
	require.NoError(t, <-ready)
	t.Cleanup(func() { close(n.quit) })
	return n
}

// in runs fn inside the namespace and waits for it; false if the namespace is gone (the test is ending).
func (n *albNet) in(fn func()) bool {
	done := make(chan struct{})
	select {
	case n.jobs <- func() { fn(); close(done) }:
		<-done
		return true
	case <-n.quit:
		return false
	}
}

// dial connects from inside the namespace, as the ALB's nodes connect to a target.
func (n *albNet) dial(addr string) (net.Conn, error) {
	var c net.Conn
	err := errors.New("the ALB's namespace is gone")
	n.in(func() { c, err = net.DialTimeout("tcp", addr, 2*time.Second) })
	return c, err
}

// fakeALB plays the ELBv2 API for the real aws CLI: DescribeTargetHealth answers from its own health check of
// the target group's port on the host's address, made from the ALB's namespace (healthy after 2 consecutive 2xx,
// like a target group with HealthyThresholdCount 2); ModifyListener points its front end, a reverse proxy
// listening in the namespace, at the chosen group.
type fakeALB struct {
	net        *albNet
	healthPath string
	ports      map[string]int // target group ARN -> the colour's port

	mu      sync.Mutex
	streak  map[string]int
	seen    map[string]bool // a group that was healthy once is "unhealthy" after a failure, else "initial"
	forward string          // the listener's target group
	calls   []string

	api, front string // the API endpoint (host side) and the front end's URL (the ALB's address)
	proxy      http.Handler
}

func newFakeALB(t *testing.T, n *albNet, h *host) *fakeALB {
	t.Helper()
	a := &fakeALB{net: n, healthPath: h.envEntries["HEALTH_PATH"],
		ports:  map[string]int{tgBlueARN: h.blue, tgGreenARN: h.green},
		streak: map[string]int{}, seen: map[string]bool{}}
	api := httptest.NewServer(http.HandlerFunc(a.serveAPI))
	t.Cleanup(api.Close)
	a.api = api.URL

	proxy := &httputil.ReverseProxy{
		Director: func(r *http.Request) {
			r.URL.Scheme = "http"
			r.URL.Host = fmt.Sprintf("%s:%d", n.hostIP, a.ports[a.listenerTarget()])
		},
		// A new connection per request, made from the namespace: the old colour's connections end with their
		// requests, so the drain is not held up by the front end's idle keepalive connections.
		Transport: &http.Transport{DisableKeepAlives: true,
			DialContext: func(_ context.Context, _, addr string) (net.Conn, error) { return n.dial(addr) }},
	}
	a.proxy = proxy
	a.front = "http://" + a.listen(t, nil)
	return a
}

// listen serves the front end on a new port of the ALB's address, over TLS with cert when it is given, and
// returns that address.
func (a *fakeALB) listen(t *testing.T, cert *tls.Certificate) string {
	t.Helper()
	var ln net.Listener
	var err error
	require.True(t, a.net.in(func() { ln, err = net.Listen("tcp", a.net.albIP+":0") }))
	require.NoError(t, err)
	front := &http.Server{Handler: a.proxy, ReadHeaderTimeout: 5 * time.Second}
	if cert != nil {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12})
	}
	go func() { _ = front.Serve(ln) }()
	t.Cleanup(func() { _ = front.Close() })
	return ln.Addr().String()
}

// withCertificate adds the HTTPS listener an ALB with an ACM certificate has: the certificate names the site
// (app.example.org), never the ALB's own DNS name, which is what deploy.sh reaches it by.
func (a *fakeALB) withCertificate(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "app.example.org"},
		DNSNames: []string{"app.example.org"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return "https://" + a.listen(t, &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key})
}

func (a *fakeALB) listenerTarget() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.forward
}

// probe is one health check of the group's target from the ALB's namespace.
func (a *fakeALB) probe(tg string) bool {
	c, err := a.net.dial(fmt.Sprintf("%s:%d", a.net.hostIP, a.ports[tg]))
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: target\r\nConnection: close\r\n\r\n", a.healthPath); err != nil {
		return false
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode/100 == 2
}

const elbNS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"

func (a *fakeALB) serveAPI(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	action := r.Form.Get("Action")
	w.Header().Set("Content-Type", "text/xml")
	switch action {
	case "DescribeTargetHealth":
		tg := r.Form.Get("TargetGroupArn")
		if _, ok := a.ports[tg]; !ok {
			a.apiError(w, "TargetGroupNotFound", "no target group "+tg)
			return
		}
		ok := a.probe(tg)
		a.mu.Lock()
		a.calls = append(a.calls, "describe "+tg)
		state := "initial"
		if ok {
			a.streak[tg]++
		} else {
			a.streak[tg] = 0
			if a.seen[tg] {
				state = "unhealthy"
			}
		}
		if a.streak[tg] >= 2 {
			state, a.seen[tg] = "healthy", true
		}
		a.mu.Unlock()
		fmt.Fprintf(w, `<DescribeTargetHealthResponse xmlns=%q><DescribeTargetHealthResult><TargetHealthDescriptions><member>`+
			`<Target><Id>i-0123456789abcdef0</Id><Port>%d</Port></Target><HealthCheckPort>%d</HealthCheckPort>`+
			`<TargetHealth><State>%s</State></TargetHealth></member></TargetHealthDescriptions></DescribeTargetHealthResult>`+
			`<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DescribeTargetHealthResponse>`,
			elbNS, a.ports[tg], a.ports[tg], state)
	case "ModifyListener":
		tg := r.Form.Get("DefaultActions.member.1.TargetGroupArn")
		if r.Form.Get("ListenerArn") != listenerARN || r.Form.Get("DefaultActions.member.1.Type") != "forward" || a.ports[tg] == 0 {
			a.apiError(w, "ValidationError", "unexpected ModifyListener: "+r.Form.Encode())
			return
		}
		a.mu.Lock()
		a.forward = tg
		a.calls = append(a.calls, "modify "+tg)
		a.mu.Unlock()
		fmt.Fprintf(w, `<ModifyListenerResponse xmlns=%q><ModifyListenerResult><Listeners><member><ListenerArn>%s</ListenerArn>`+
			`</member></Listeners></ModifyListenerResult><ResponseMetadata><RequestId>2</RequestId></ResponseMetadata>`+
			`</ModifyListenerResponse>`, elbNS, listenerARN)
	default:
		a.apiError(w, "InvalidAction", "unexpected action "+action)
	}
}

func (a *fakeALB) apiError(w http.ResponseWriter, code, msg string) {
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `<ErrorResponse xmlns=%q><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>`+
		`<RequestId>3</RequestId></ErrorResponse>`, elbNS, code, msg)
}

// cliEnv is the environment for the real aws CLI to talk to the fake API with dummy credentials.
func (a *fakeALB) cliEnv() map[string]string {
	return map[string]string{
		"AWS_CLI":                     awsCLI + " --endpoint-url " + a.api,
		"AWS_ACCESS_KEY_ID":           "AKIAIOSFODNN7EXAMPLE",
		"AWS_SECRET_ACCESS_KEY":       "test",
		"AWS_DEFAULT_REGION":          "eu-central-1",
		"AWS_CONFIG_FILE":             "/nonexistent",
		"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_PAGER":                   "",
	}
}

func (a *fakeALB) callLog() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.calls...)
}

// albHost is a host in ALB mode: colours published on the host's side of the veth pair, PUBLIC_URL the ALB.
func albHost(t *testing.T) (*host, *fakeALB) {
	t.Helper()
	if _, err := os.Stat(awsCLI); err != nil {
		t.Fatalf("the ALB tests run the real aws CLI (Debian package awscli): %v", err)
	}
	n := newALBNet(t)
	h := newHost(t, withEnv(map[string]string{
		"SWITCH": "alb", "LISTENER_ARN": listenerARN, "TG_BLUE_ARN": tgBlueARN, "TG_GREEN_ARN": tgGreenARN,
		"PUBLISH_ADDRESS": n.hostIP, "VERSION_PATH": "/version", "ALB_HEALTH_TIMEOUT": "20",
	}))
	a := newFakeALB(t, n, h)
	h.envEntries["PUBLIC_URL"] = a.front
	h.writeEnv()
	h.extraEnv = a.cliEnv()
	return h, a
}

// TestALBSwitch: with SWITCH=alb each deploy waits until the ALB's own health checks, made from its namespace
// against the host's address, report the new colour healthy, then moves the listener, and verifies through the
// ALB. Two deploys end with the ALB's front end serving the new version; a third with PUBLISH_ADDRESS left at its
// default (0.0.0.0) works too.
func TestALBSwitch(t *testing.T) {
	t.Parallel()
	h, a := albHost(t)
	v1 := buildImage(t, map[string]string{"VERSION": "v1"})
	v2 := buildImage(t, map[string]string{"VERSION": "v2"})
	v3 := buildImage(t, map[string]string{"VERSION": "v3"})
	for _, step := range []struct{ img, version, colour, tg string }{
		{v1, "v1", "blue", tgBlueARN}, {v2, "v2", "green", tgGreenARN},
	} {
		h.mustDeploy(step.img)
		_, body := get(a.front + "/")
		assert.Equal(t, step.version, body, "the ALB serves the new version")
		assert.Equal(t, step.tg, a.listenerTarget())
		assert.Equal(t, []string{step.colour}, h.containers())
	}
	calls := a.callLog()
	require.NotEmpty(t, calls)
	assert.Equal(t, "modify "+tgGreenARN, calls[len(calls)-1])
	assert.Contains(t, calls, "describe "+tgGreenARN)

	delete(h.envEntries, "PUBLISH_ADDRESS")
	h.writeEnv()
	h.mustDeploy(v3)
	_, body := get(a.front + "/")
	assert.Equal(t, "v3", body)
	assert.Equal(t, tgBlueARN, a.listenerTarget())
}

// TestALBRefusesLoopback: a colour published on loopback never passes this ALB's health check (the ALB probes
// the host's address), and deploy.sh refuses PUBLISH_ADDRESS=127.0.0.1 or a loopback PUBLIC_URL with SWITCH=alb
// before it starts anything.
func TestALBRefusesLoopback(t *testing.T) {
	t.Parallel()
	h, a := albHost(t)
	img := buildImage(t, map[string]string{"VERSION": "v1"})

	describe := func() string {
		cmd := exec.Command("bash", "-c", h.extraEnv["AWS_CLI"]+` elbv2 describe-target-health --target-group-arn "$0" `+
			`--query 'TargetHealthDescriptions[].TargetHealth.State' --output text`, tgBlueARN)
		cmd.Env = os.Environ()
		for k, v := range h.extraEnv {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.TrimSpace(string(out))
	}
	for _, tt := range []struct{ publish, want string }{{"127.0.0.1", "initial"}, {a.net.hostIP, "healthy"}} {
		name := "dlt-alb-" + uniqueID()
		out, err := exec.Command("docker", "run", "-d", "--name", name, "-p", fmt.Sprintf("%s:%d:8080", tt.publish, h.blue), img).CombinedOutput()
		require.NoError(t, err, "%s", out)
		var states []string
		require.Eventually(t, func() bool {
			code, _ := get(fmt.Sprintf("http://%s:%d/actuator/health", tt.publish, h.blue))
			return code == 200
		},
			10*time.Second, 100*time.Millisecond)
		for i := 0; i < 3; i++ {
			states = append(states, describe())
		}
		assert.Equal(t, tt.want, states[2], "published on %s: %v", tt.publish, states)
		require.NoError(t, exec.Command("docker", "rm", "-f", name).Run())
	}

	for key, value := range map[string]string{"PUBLISH_ADDRESS": "127.0.0.1", "PUBLIC_URL": "http://127.0.0.1:80"} {
		saved := h.envEntries[key]
		h.envEntries[key] = value
		h.writeEnv()
		r := h.run("deploy", img)
		assert.Equal(t, 2, r.code, r.stderr)
		assert.Contains(t, r.stderr, key+`="`+value+`"`)
		assert.Empty(t, h.containers())
		h.envEntries[key] = saved
		h.writeEnv()
	}
}

// TestALBWithCertificate: an ALB with a certificate forwards on HTTPS (its HTTP listener only redirects), and the
// certificate names the site, not the ALB. deploy.sh verifies through the HTTPS listener by the ALB's address with
// PUBLIC_INSECURE=1, which the stack renders with a certificate; without it the check fails on the certificate's
// name, and the deploy rolls back with the old colour serving.
func TestALBWithCertificate(t *testing.T) {
	t.Parallel()
	h, a := albHost(t)
	front := a.withCertificate(t)
	h.envEntries["PUBLIC_URL"], h.envEntries["PUBLIC_INSECURE"] = front, "1"
	h.writeEnv()
	v1 := buildImage(t, map[string]string{"VERSION": "v1"})
	v2 := buildImage(t, map[string]string{"VERSION": "v2"})
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the test's own look at the ALB: the certificate names the site
	served := func() string {
		resp, err := client.Get(front + "/version")
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return strings.TrimSpace(string(b))
	}
	h.mustDeploy(v1)
	assert.Equal(t, "v1", served())

	h.envEntries["PUBLIC_INSECURE"] = "0"
	h.writeEnv()
	r := h.run("deploy", v2)
	require.NotEqual(t, 0, r.code, "a check that verifies the ALB's DNS name against the site's certificate must fail")
	assert.Contains(t, r.stderr, "PUBLIC_URL")
	assert.Equal(t, "v1", served(), "the old colour serves after the failed deploy")
	assert.Equal(t, tgBlueARN, a.listenerTarget(), "the listener was moved back")
	assert.Equal(t, []string{"blue"}, h.containers())

	h.envEntries["PUBLIC_INSECURE"] = "1"
	h.writeEnv()
	h.mustDeploy(v2)
	assert.Equal(t, "v2", served())
	assert.Equal(t, tgGreenARN, a.listenerTarget())
}

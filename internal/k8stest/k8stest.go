// Package k8stest starts a real Kubernetes control plane on 127.0.0.1 for tests: Debian's etcd, and
// kube-apiserver and kube-controller-manager built by scripts/k8s-tools.sh. There is no scheduler and no
// kubelet, so pods stay Pending; RBAC, admission (quota, limit ranges, Pod Security) and the controllers that
// fill service account tokens and finish namespace deletions are real. A missing binary fails the test.
package k8stest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploylab/deploylab/internal/testutil"
)

// AdminToken is the static bearer token of the admin user (group system:masters).
const AdminToken = "deploylab-test-admin-token"

// User is one more static token the API server accepts.
type User struct {
	Token, Name string
	// Groups the user is in (system:masters is cluster-admin).
	Groups []string
}

// ControlPlane is a running etcd + kube-apiserver + kube-controller-manager.
type ControlPlane struct {
	// Server is the API server's URL.
	Server string
	// CAData is the cluster CA, base64 of the PEM (the form kubeconfigs and GKE's masterAuth use).
	CAData string
	// AdminKubeconfig is the admin kubeconfig's text, AdminKubeconfigPath its file.
	AdminKubeconfig, AdminKubeconfigPath string
	// BinDirs hold kubectl, the control plane and pulumi-resource-kubernetes; put them on PATH.
	BinDirs []string
	// Dir is the control plane's scratch directory (logs, certificates, etcd data).
	Dir   string
	caPEM []byte
}

// Start builds nothing: it finds the binaries scripts/k8s-tools.sh built, starts the control plane, and
// stops it when the test ends.
func Start(t testing.TB, users ...User) *ControlPlane {
	t.Helper()
	cp := &ControlPlane{Dir: t.TempDir()}
	out, err := exec.Command("bash", filepath.Join(testutil.RepoRoot(), "scripts", "k8s-tools.sh"), "paths").CombinedOutput()
	if err != nil {
		t.Fatalf("the Kubernetes tests need the binaries of scripts/k8s-tools.sh (make k8s-tools): %v\n%s", err, out)
	}
	cp.BinDirs = strings.Fields(string(out))
	etcd, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatalf("the Kubernetes tests need etcd (Debian package etcd-server; make deps installs it): %v", err)
	}
	ports := freePorts(t, 3)
	cp.Server = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	cp.writeFiles(t, users)

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	cp.run(t, "etcd", etcd, "--data-dir", filepath.Join(cp.Dir, "etcd"), "--name", "test",
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", "http://127.0.0.1:"+strconv.Itoa(ports[1]),
		"--initial-advertise-peer-urls", "http://127.0.0.1:"+strconv.Itoa(ports[1]),
		"--initial-cluster", "test=http://127.0.0.1:"+strconv.Itoa(ports[1]))
	f := func(name string) string { return filepath.Join(cp.Dir, name) }
	cp.run(t, "kube-apiserver", cp.bin(t, "kube-apiserver"),
		"--etcd-servers="+etcdURL, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports[2]), "--tls-cert-file="+f("server.crt"), "--tls-private-key-file="+f("server.key"),
		"--client-ca-file="+f("ca.crt"), "--token-auth-file="+f("tokens.csv"), "--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.0.0.0/24", "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+f("sa.key"), "--service-account-signing-key-file="+f("sa.key"),
		// The ServiceAccount admission plugin refuses pods until the namespace's default account exists;
		// the endpoint reconciler refuses a loopback address for the kubernetes Service.
		"--disable-admission-plugins=ServiceAccount", "--endpoint-reconciler-type=none")
	cp.waitReady(t)
	cp.run(t, "kube-controller-manager", cp.bin(t, "kube-controller-manager"),
		"--kubeconfig="+cp.AdminKubeconfigPath, "--authentication-kubeconfig="+cp.AdminKubeconfigPath,
		"--authorization-kubeconfig="+cp.AdminKubeconfigPath, "--leader-elect=false", "--bind-address=127.0.0.1",
		"--secure-port=0", "--service-account-private-key-file="+f("sa.key"), "--root-ca-file="+f("ca.crt"),
		"--use-service-account-credentials=false",
		"--controllers=*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-service-lb-controller,-route")
	// The service account controller creating "default" in every namespace proves the controllers run.
	cp.eventually(t, 60*time.Second, "the controller manager to create the default service account", func() error {
		_, err := cp.Kubectl(cp.AdminKubeconfigPath, "get", "serviceaccount", "default", "-n", "default")
		return err
	})
	return cp
}

// Kubectl runs the built kubectl with a kubeconfig and returns its combined output.
func (cp *ControlPlane) Kubectl(kubeconfig string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(cp.BinDirs[0], "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// CAPEM is the cluster CA certificate in PEM.
func (cp *ControlPlane) CAPEM() []byte { return cp.caPEM }

// Eventually retries check every half second until it succeeds or timeout passes, then fails the test.
func (cp *ControlPlane) eventually(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: %v\n%s", timeout, what, err, cp.logs())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (cp *ControlPlane) bin(t testing.TB, name string) string {
	t.Helper()
	for _, d := range cp.BinDirs {
		if p := filepath.Join(d, name); fileExists(p) {
			return p
		}
	}
	t.Fatalf("%s not found in %v", name, cp.BinDirs)
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// run starts a process that lives until the test ends, logging to DIR/NAME.log.
func (cp *ControlPlane) run(t testing.TB, name, bin string, args ...string) {
	t.Helper()
	log, err := os.Create(filepath.Join(cp.Dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so nothing it starts outlives the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		_ = log.Close()
		if t.Failed() {
			t.Logf("--- %s log (tail) ---\n%s", name, tail(filepath.Join(cp.Dir, name+".log")))
		}
	})
}

func (cp *ControlPlane) logs() string {
	var b strings.Builder
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		fmt.Fprintf(&b, "--- %s log (tail) ---\n%s\n", name, tail(filepath.Join(cp.Dir, name+".log")))
	}
	return b.String()
}

func tail(path string) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

func (cp *ControlPlane) waitReady(t testing.TB) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cp.caPEM)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	cp.eventually(t, 60*time.Second, "kube-apiserver /readyz", func() error {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, cp.Server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+AdminToken)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz answered %s", resp.Status)
		}
		return nil
	})
}

// writeFiles writes the CA, the serving certificate, the service account key, the static tokens and the
// admin kubeconfig.
func (cp *ControlPlane) writeFiles(t testing.TB, users []User) {
	t.Helper()
	caKey, caPEM, caCert := newCA(t)
	cp.caPEM = caPEM
	cp.CAData = base64.StdEncoding.EncodeToString(caPEM)
	serverKey := newKey(t)
	serverTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	serverDER, err := x509.CreateCertificate(rand.Reader, serverTmpl, caCert, &serverKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cp.AdminKubeconfig = fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: local
  context:
    cluster: local
    user: admin
current-context: local
`, cp.Server, cp.CAData, AdminToken)
	cp.AdminKubeconfigPath = filepath.Join(cp.Dir, "admin.kubeconfig")
	for name, data := range map[string][]byte{
		"ca.crt":           caPEM,
		"server.crt":       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: serverDER}),
		"server.key":       keyPEM(t, serverKey),
		"sa.key":           keyPEM(t, newKey(t)),
		"tokens.csv":       []byte(tokens(users)),
		"admin.kubeconfig": []byte(cp.AdminKubeconfig),
	} {
		if err := os.WriteFile(filepath.Join(cp.Dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// tokens is the --token-auth-file: token,user,uid,"group1,group2" per line.
func tokens(users []User) string {
	lines := []string{AdminToken + ",admin,admin,system:masters"}
	for _, u := range users {
		lines = append(lines, fmt.Sprintf("%s,%s,%s,%q", u.Token, u.Name, u.Name, strings.Join(u.Groups, ",")))
	}
	return strings.Join(lines, "\n") + "\n"
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyPEM(t testing.TB, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

func newCA(t testing.TB) (*ecdsa.PrivateKey, []byte, *x509.Certificate) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "deploylab-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), cert
}

// freePorts reserves n loopback ports by listening on them, then releases them for the processes.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

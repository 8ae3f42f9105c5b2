package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// script is the host's real S3 client, run here against the stand-in exactly as the boot test runs it.
const script = "../../../components/apphost/files/deploylab-s3.sh"

type fixture struct {
	t   *testing.T
	s   *server
	dir string
	env []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	for _, tool := range []string{"curl", "bash", "tar", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (make test installs it)", tool)
		}
	}
	s := newServer("eu-central-1")
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	endpoints := filepath.Join(dir, "aws-endpoints.env")
	if err := os.WriteFile(endpoints, []byte("IMDS_URL="+srv.URL+"\nS3_URL="+srv.URL+"/s3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// TAR unpacks below dir/root instead of /: GNU tar applies the last --directory.
	wrapper := filepath.Join(dir, "tar")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\nexec tar \"$@\" --directory "+filepath.Join(dir, "root")+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "root"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, s: s, dir: dir, env: append(os.Environ(), "DEPLOYLAB_ENDPOINTS_FILE="+endpoints, "TAR="+wrapper,
		"DEPLOYLAB_BOOTSTRAP_STAMP="+filepath.Join(dir, "stamp"), "DEPLOYLAB_HOST_KEY_FILE="+filepath.Join(dir, "host_key"))}
}

// run runs deploylab-s3 and returns its exit code and output.
func (f *fixture) run(args ...string) (int, string) {
	cmd := exec.Command("bash", append([]string{script}, args...)...)
	cmd.Env = f.env
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	case err != nil:
		f.t.Fatalf("deploylab-s3: %v", err)
	}
	return 0, string(out)
}

func bundle(t *testing.T, files map[string]string) []byte {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return gz.Bytes()
}

// TestHostClient runs the host's S3 client (curl --aws-sigv4 with IMDSv2 role credentials) against the stand-in,
// which checks each request's SigV4 signature as S3 does: what the boot test relies on, and what a real bucket
// would refuse if the signing were wrong.
func TestHostClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	archive := bundle(t, map[string]string{"etc/deploylab/deploy.env": "APP_NAME=app\n"})
	sum := sha256.Sum256(archive)
	pin := hex.EncodeToString(sum[:])
	f.s.objects["bkt/host/files.tar.gz"] = archive
	key, err := newHostKey()
	if err != nil {
		t.Fatal(err)
	}
	f.s.objects["bkt/host/ssh_host_ed25519_key"] = key

	if code, out := f.run("bootstrap", "bkt", "host/files.tar.gz", pin, "host/ssh_host_ed25519_key"); code != 0 {
		t.Fatalf("bootstrap exited %d:\n%s", code, out)
	}
	if got, _ := os.ReadFile(filepath.Join(f.dir, "root/etc/deploylab/deploy.env")); string(got) != "APP_NAME=app\n" {
		t.Errorf("unpacked deploy.env = %q", got)
	}
	if got, _ := os.ReadFile(filepath.Join(f.dir, "stamp")); strings.TrimSpace(string(got)) != pin {
		t.Errorf("stamp = %q, want the pin %s", got, pin)
	}
	if got, _ := os.ReadFile(filepath.Join(f.dir, "host_key")); !bytes.Equal(got, key) {
		t.Error("the host key installed is not the one served")
	}
	if pub, _ := os.ReadFile(filepath.Join(f.dir, "host_key.pub")); !strings.HasPrefix(string(pub), "ssh-ed25519 ") {
		t.Errorf("host_key.pub = %q", pub)
	}

	wrong := strings.Repeat("0", 64)
	if code, out := f.run("bootstrap", "bkt", "host/files.tar.gz", wrong); code == 0 || !strings.Contains(out, "refusing it") {
		t.Errorf("a bundle that is not the pinned one was accepted (exit %d):\n%s", code, out)
	}

	src := filepath.Join(f.dir, "backup")
	if err := os.WriteFile(src, []byte("certificates"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := f.run("put", "bkt", "letsencrypt/backup.tar.gz", src); code != 0 {
		t.Fatalf("put exited %d:\n%s", code, out)
	}
	if got := string(f.s.objects["bkt/letsencrypt/backup.tar.gz"]); got != "certificates" {
		t.Errorf("stored %q after PUT", got)
	}
	dest := filepath.Join(f.dir, "restored")
	if code, out := f.run("get", "bkt", "letsencrypt/backup.tar.gz", dest, "--optional"); code != 0 {
		t.Fatalf("get exited %d:\n%s", code, out)
	}
	if got, _ := os.ReadFile(dest); string(got) != "certificates" {
		t.Errorf("got %q back", got)
	}
	if code, out := f.run("get", "bkt", "letsencrypt/none.tar.gz", dest, "--optional"); code != 3 {
		t.Errorf("a missing optional object: exit %d, want 3:\n%s", code, out)
	}
}

// TestUnsignedRefused: the stand-in refuses what S3 refuses, so the test above cannot pass with a client that does
// not sign, or signs with other credentials.
func TestUnsignedRefused(t *testing.T) {
	t.Parallel()
	s := newServer("eu-central-1")
	s.objects["bkt/k"] = []byte("x")
	srv := httptest.NewServer(s)
	defer srv.Close()
	for name, args := range map[string][]string{
		"unsigned":     {srv.URL + "/s3/bkt/k"},
		"other secret": {"--aws-sigv4", "aws:amz:eu-central-1:s3", "--user", s.akid + ":" + strings.Repeat("A", 40), "-H", "x-amz-security-token: " + s.session, "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", srv.URL + "/s3/bkt/k"},
		"no token":     {"--aws-sigv4", "aws:amz:eu-central-1:s3", "--user", s.akid + ":" + s.secret, "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", srv.URL + "/s3/bkt/k"},
		"other region": {"--aws-sigv4", "aws:amz:us-east-1:s3", "--user", s.akid + ":" + s.secret, "-H", "x-amz-security-token: " + s.session, "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", srv.URL + "/s3/bkt/k"},
	} {
		out, _ := exec.Command("curl", append([]string{"-s", "-o", "/dev/null", "-w", "%{http_code}"}, args...)...).Output()
		if string(out) != "403" {
			t.Errorf("%s: HTTP %s, want 403", name, out)
		}
	}
	out, _ := exec.Command("curl", "-s", "--aws-sigv4", "aws:amz:eu-central-1:s3", "--user", s.akid+":"+s.secret,
		"-H", "x-amz-security-token: "+s.session, "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", srv.URL+"/s3/bkt/k").Output()
	if string(out) != "x" {
		t.Errorf("a correctly signed GET got %q", out)
	}
}

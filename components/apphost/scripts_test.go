package apphost

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestKubectlScript runs files/deploylab-kubectl.sh with the real gpg on a key made here, served by a stand-in
// curl: a key whose fingerprint is not the pinned one is refused before apt sees the repository; the pinned one
// gets its own keyring and a sources line signed-by it, then apt installs kubectl from that file alone.
func TestKubectlScript(t *testing.T) {
	t.Parallel()
	gpg := mustTool(t, "gpg", "/usr/bin/gpg", "gpg")
	dir := t.TempDir()
	home := filepath.Join(dir, "gnupg")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	gpgRun := func(args ...string) string {
		out, err := exec.Command(gpg, append([]string{"--homedir", home, "--batch"}, args...)...).Output()
		if err != nil {
			t.Fatalf("gpg %v: %v", args, err)
		}
		return string(out)
	}
	gpgRun("--passphrase", "", "--quick-gen-key", "test-repo@deploylab.invalid", "ed25519", "sign", "never")
	key := filepath.Join(dir, "Release.key")
	if err := os.WriteFile(key, []byte(gpgRun("--armor", "--export", "test-repo@deploylab.invalid")), 0o644); err != nil {
		t.Fatal(err)
	}
	var fpr string
	for _, line := range strings.Split(gpgRun("--with-colons", "--fingerprint", "test-repo@deploylab.invalid"), "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" && fpr == "" {
			fpr = f[9]
		}
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// curl stand-in: writes Release.key to -o and records the URL; apt-get stand-in records its arguments.
	curl := write("curl", "#!/bin/bash\nwhile [[ $# -gt 1 ]]; do [[ $1 == -o ]] && out=$2; shift; done\necho \"$1\" >>"+dir+"/urls\ncp "+key+" \"$out\"\n")
	apt := write("apt-get", "#!/bin/sh\necho \"$*\" >>"+dir+"/apt\n")
	run := func(fingerprint string) (string, error) {
		cmd := exec.Command("bash", "files/deploylab-kubectl.sh", "v1.34", fingerprint)
		cmd.Env = append(os.Environ(), "CURL="+curl, "APT_GET="+apt, "GNUPGHOME="+home,
			"KUBECTL_KEYRING="+filepath.Join(dir, "keyrings", "k.gpg"), "KUBECTL_SOURCES="+filepath.Join(dir, "kubernetes.list"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	if out, err := run(KubernetesKeyFingerprint); err == nil || !strings.Contains(out, "refusing it") {
		t.Errorf("a key with another fingerprint was accepted (%v):\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "apt")); err == nil {
		t.Error("apt ran after the key was refused")
	}
	if out, err := run(fpr); err != nil {
		t.Fatalf("the pinned key: %v\n%s", err, out)
	}
	sources, _ := os.ReadFile(filepath.Join(dir, "kubernetes.list"))
	if want := "deb [signed-by=" + filepath.Join(dir, "keyrings", "k.gpg") + "] https://pkgs.k8s.io/core:/stable:/v1.34/deb/ /\n"; string(sources) != want {
		t.Errorf("sources = %q, want %q", sources, want)
	}
	aptLog, _ := os.ReadFile(filepath.Join(dir, "apt"))
	if !strings.Contains(string(aptLog), "update -o Dir::Etc::sourcelist="+filepath.Join(dir, "kubernetes.list")) ||
		!strings.HasSuffix(string(aptLog), "install -y kubectl\n") {
		t.Errorf("apt-get calls:\n%s", aptLog)
	}
	if urls, _ := os.ReadFile(filepath.Join(dir, "urls")); !strings.Contains(string(urls), "https://pkgs.k8s.io/core:/stable:/v1.34/deb/Release.key") {
		t.Errorf("key fetched from %s", urls)
	}
}

// TestCertbotKeepsCertificate runs files/deploylab-certbot.sh twice, as on a host and on the host that replaces
// it, with stand-ins for certbot, the metadata service, DNS and deploylab-s3 (a directory as the bucket): the
// first run issues and backs up; the second restores before certbot runs, so certbot finds the certificate and
// does not ask Let's Encrypt for another.
func TestCertbotKeepsCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bucket := filepath.Join(dir, "bucket")
	s3 := write("s3", `#!/bin/bash
# deploylab-s3 stand-in: the bucket is a directory.
case "$1" in
  get) [[ -f "`+bucket+`/$2/$3" ]] || exit 3; cp "`+bucket+`/$2/$3" "$4" ;;
  put) mkdir -p "$(dirname "`+bucket+`/$2/$3")"; cp "$4" "`+bucket+`/$2/$3" ;;
  *) exit 2 ;;
esac
`)
	// certbot stand-in: "issues" (records it) only when no certificate is there, as --keep-until-expiring does.
	certbot := write("certbot", `#!/bin/bash
if [[ -f "$LETSENCRYPT_DIR/live/app.example.com/cert.pem" ]]; then echo reinstall >>`+dir+`/certbot.log
else mkdir -p "$LETSENCRYPT_DIR/live/app.example.com"; echo issued >"$LETSENCRYPT_DIR/live/app.example.com/cert.pem"; echo issue >>`+dir+`/certbot.log; fi
`)
	curl := write("curl", "#!/bin/sh\ncase \"$*\" in *api/token*) echo token ;; *) echo 192.0.2.10 ;; esac\n")
	getent := write("getent", "#!/bin/sh\necho '192.0.2.10 STREAM app.example.com'\n")
	systemctl := write("systemctl", "#!/bin/sh\n")
	for i, host := range []string{"first", "replacement"} {
		le := filepath.Join(dir, host, "letsencrypt")
		if err := os.MkdirAll(filepath.Dir(le), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", "files/deploylab-certbot.sh")
		cmd.Env = append(os.Environ(), "DOMAIN=app.example.com", "CERTBOT_EMAIL=ops@example.com", "FILES_BUCKET=bkt",
			"DEPLOYLAB_S3="+s3, "CERTBOT="+certbot, "CURL="+curl, "GETENT="+getent, "SYSTEMCTL="+systemctl, "LETSENCRYPT_DIR="+le)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s host: %v\n%s", host, err, out)
		}
		if _, err := os.Stat(filepath.Join(bucket, "bkt", "letsencrypt", "backup.tar.gz")); err != nil {
			t.Fatalf("after the %s host: no backup in the bucket", host)
		}
		log, _ := os.ReadFile(filepath.Join(dir, "certbot.log"))
		if want := []string{"issue\n", "issue\nreinstall\n"}[i]; string(log) != want {
			t.Errorf("after the %s host, certbot did %q, want %q", host, log, want)
		}
	}
}

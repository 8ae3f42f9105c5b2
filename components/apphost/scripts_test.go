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

package apphost

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestUserDataBudget holds every variant's user data, as EC2 receives it (the plain document: userData is sent
// as is, base64 only on the wire), to UserDataBudget. internal/plan holds every stack file to the same budget.
func TestUserDataBudget(t *testing.T) {
	t.Parallel()
	for name, args := range variants(t) {
		r, err := RenderUserData(args)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: user data %d bytes (budget %d), files bundle %d bytes", name, len(r.UserData), UserDataBudget, len(r.Bundle.Archive))
		if len(r.UserData) > UserDataBudget {
			t.Errorf("%s: user data is %d bytes, over the budget of %d (80%% of EC2's 16,384)", name, len(r.UserData), UserDataBudget)
		}
	}
}

// aptPackages reads apt/<image>.txt, the names checked against that release's package index.
func aptPackages(t *testing.T, image string) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join("apt", image+".txt"))
	if err != nil {
		t.Fatalf("%v (every image needs its package list)", err)
	}
	defer f.Close()
	known := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			known[line] = true
		}
	}
	return known
}

// TestAptPackagesExist: cloud-init installs `packages:` in one apt-get install, so a single name the release
// lacks installs nothing. Every package any variant names must be in its image's list, and the ready check must
// require every one of them.
func TestAptPackagesExist(t *testing.T) {
	t.Parallel()
	for name, args := range variants(t) {
		image := args.Host.withDefaults().Image
		known := aptPackages(t, image)
		r, err := RenderUserData(args)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Packages []string   `yaml:"packages"`
			RunCmd   [][]string `yaml:"runcmd"`
		}
		if err := yaml.Unmarshal([]byte(r.UserData), &doc); err != nil {
			t.Fatal(err)
		}
		ready := doc.RunCmd[len(doc.RunCmd)-1]
		for _, p := range doc.Packages {
			if !known[p] {
				t.Errorf("%s: package %q is not in apt/%s.txt (check the release's index before adding it)", name, p, image)
			}
			if !strings.Contains(ready[len(ready)-1], "'"+p+"'") {
				t.Errorf("%s: the ready check does not require %q: %q", name, p, ready)
			}
		}
	}
}

// TestAptListDebian checks the Debian list itself against this machine's bookworm index (the project's machines
// and CI are bookworm): a name that apt does not know fails. Elsewhere it fails too, unless the run says it has no
// bookworm index (DEPLOYLAB_APT_INDEX=none, set by the GitHub workflow's Ubuntu job), so it never skips silently.
func TestAptListDebian(t *testing.T) {
	t.Parallel()
	osRelease, err := os.ReadFile("/etc/os-release")
	if err != nil || !strings.Contains(string(osRelease), "VERSION_CODENAME=bookworm") {
		if os.Getenv("DEPLOYLAB_APT_INDEX") == "none" {
			t.Skip("DEPLOYLAB_APT_INDEX=none: no bookworm index here; the list's source is named in apt/debian-12.txt")
		}
		t.Fatal("not a Debian 12 machine, so apt/debian-12.txt cannot be checked against its index; run on bookworm or set DEPLOYLAB_APT_INDEX=none")
	}
	aptCache := mustTool(t, "apt-cache", "/usr/bin/apt-cache", "apt")
	for p := range aptPackages(t, "debian-12") {
		out, err := exec.Command(aptCache, "policy", p).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Candidate:") || strings.Contains(string(out), "Candidate: (none)") {
			t.Errorf("apt-cache policy %s: not in this machine's bookworm index (run apt-get update?):\n%s", p, out)
		}
	}
}

// TestCompactScript: the compacted S3 client is the same program (bash parses it; shellcheck passes on the
// source in TestHostScripts) with only comment and blank lines gone.
func TestCompactScript(t *testing.T) {
	t.Parallel()
	bash := mustTool(t, "bash", "/bin/bash", "bash")
	got := compactScript(s3Script)
	if !strings.HasPrefix(got, "#!/usr/bin/env bash\n") || strings.Contains(got, "\n#") || strings.Contains(got, "\n\n") {
		t.Errorf("compacted script keeps comments or blank lines, or lost its #! line:\n%s", got)
	}
	var code []string
	for _, line := range strings.Split(s3Script, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			code = append(code, line)
		}
	}
	if strings.Join(code, "\n") != strings.TrimSuffix(strings.TrimPrefix(got, "#!/usr/bin/env bash\n"), "\n") {
		t.Error("compacting changed a line of code")
	}
	path := filepath.Join(t.TempDir(), "deploylab-s3")
	if err := os.WriteFile(path, []byte(got), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bash, "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("bash -n on the compacted script: %v\n%s", err, out)
	}
}

// Package testutil holds helpers shared by the tests of several packages: running the real tools that check
// rendered artifacts, and finding the repository root.
package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// CheckCloudInitSchema runs the real `cloud-init schema` on doc and fails the test on any problem, or when
// cloud-init is missing (make test installs it; a missing tool never skips).
func CheckCloudInitSchema(t testing.TB, doc string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "user-data.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("cloud-init", "schema", "--config-file", path).CombinedOutput()
	// cloud-init 22.4 (Debian 12) prints "Valid cloud-config: FILE", newer releases "Valid schema FILE".
	if err != nil || !(strings.Contains(string(out), "Valid cloud-config") || strings.Contains(string(out), "Valid schema")) {
		t.Fatalf("cloud-init schema refused the document (err %v; is cloud-init installed? make test installs it):\n%s\n--- document ---\n%s", err, out, doc)
	}
}

// UseRealEngine puts the pinned Pulumi CLI (scripts/tools.sh) and extraPath first on PATH, and points the CLI
// at a fresh file:// backend and PULUMI_HOME. A plugin on PATH (pulumi-resource-kubernetes in extraPath) is
// used as it is. It fails (never skips) without the CLI.
func UseRealEngine(tb testing.TB, extraPath ...string) {
	tb.Helper()
	bin := filepath.Join(RepoRoot(), ".tools", "bin")
	if _, err := os.Stat(filepath.Join(bin, "pulumi")); err != nil {
		tb.Fatalf("the real-engine tests need the Pulumi CLI at %s: run scripts/tools.sh (make tools): %v", bin, err)
	}
	dir := tb.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		tb.Fatal(err)
	}
	path := append([]string{bin}, extraPath...)
	tb.Setenv("PATH", strings.Join(append(path, os.Getenv("PATH")), string(os.PathListSeparator)))
	tb.Setenv("PULUMI_BACKEND_URL", "file://"+state)
	tb.Setenv("PULUMI_CONFIG_PASSPHRASE", "test-only-passphrase")
	tb.Setenv("PULUMI_SKIP_UPDATE_CHECK", "true")
	tb.Setenv("PULUMI_HOME", filepath.Join(dir, "home"))
}

// RepoRoot returns the repository's top directory, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Unwrap removes output and secret wrappers from a recorded resource input, so a mock test compares the
// value the provider would receive.
func Unwrap(v resource.PropertyValue) resource.PropertyValue {
	for {
		switch {
		case v.IsOutput():
			v = v.OutputValue().Element
		case v.IsSecret():
			v = v.SecretValue().Element
		default:
			return v
		}
	}
}

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

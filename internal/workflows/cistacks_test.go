package workflows

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/deploylab/deploylab/internal/testutil"
)

// TestCIStacksListsTheBackend runs scripts/ci-stacks.sh with the real Pulumi CLI (make tools builds it) against
// a local file backend: the matrix holds the stacks that exist in the backend AND have a stack file, minus
// EXCLUDE. A copy of the project is used, so the repository's stack files are never touched.
func TestCIStacksListsTheBackend(t *testing.T) {
	t.Parallel()
	root := testutil.RepoRoot()
	pulumi := pinnedTool(t, "pulumi")
	_, err := exec.LookPath("jq")
	require.NoError(t, err, "jq is missing: make deps installs it")

	project := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(project, "scripts"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(project, "stacks"), 0o755))
	for _, f := range []string{"Pulumi.yaml", "scripts/ci-stacks.sh"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(project, f), b, 0o755))
	}
	// training: a template with no stack; old-class: reaped, file left behind; other: a stack with no file.
	for _, s := range []string{"dev", "prod", "training", "old-class"} {
		require.NoError(t, os.WriteFile(filepath.Join(project, "stacks", "Pulumi."+s+".yaml"), []byte("config: {}\n"), 0o644))
	}
	home := t.TempDir()
	env := append(os.Environ(), "PULUMI_BACKEND_URL=file://"+t.TempDir(), "PULUMI_CONFIG_PASSPHRASE=test",
		"PULUMI_HOME="+home, "PULUMI_SKIP_UPDATE_CHECK=true", "PULUMI="+pulumi)
	for _, s := range []string{"dev", "prod", "other"} {
		cmd := exec.Command(pulumi, "stack", "init", s, "--non-interactive", "--cwd", project)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "pulumi stack init %s:\n%s", s, out)
	}
	// stack init wrote other's stack file (its encryption salt): remove it, other is a stack without a file.
	require.NoError(t, os.Remove(filepath.Join(project, "stacks", "Pulumi.other.yaml")))
	for exclude, want := range map[string]string{"prod": `["dev"]`, "": `["dev","prod"]`, "dev prod": `[]`} {
		cmd := exec.Command("bash", filepath.Join(project, "scripts", "ci-stacks.sh"))
		cmd.Env = append(env, "EXCLUDE="+exclude)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "ci-stacks.sh:\n%s", stderr.String())
		require.Equal(t, want, strings.TrimSpace(string(out)), "EXCLUDE=%q", exclude)
		require.Contains(t, stderr.String(), "training has a stack file but no stack in the backend")
		require.Contains(t, stderr.String(), "old-class has a stack file but no stack in the backend")
	}
}

package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"
)

// TestMoveState runs steps 2 to 4 of docs/operations.md's "Move state to an S3 backend" between two file://
// backends (no S3 here): the doc's commands, with the s3:// URL replaced by a second file:// backend and /tmp by a
// directory of the sandbox. It proves the doc's claims: `stack init` on the new backend keeps every committed salt
// (`git diff --exit-code stacks/` passes), and a class's secret output reads back with the same passphrase.
func TestMoveState(t *testing.T) {
	t.Parallel()
	const class = "k8s-2026-12"
	s := newSandbox(t, true)
	home := s.vars["HOME"]
	for _, dir := range []string{"deploylab-state", "new-state", "tmp"} {
		require.NoError(t, os.Mkdir(filepath.Join(home, dir), 0o700))
	}
	s.vars["PULUMI_BACKEND_URL"] = "file://" + filepath.Join(home, "deploylab-state")
	s.env = append(s.env, "PULUMI_BACKEND_URL="+s.vars["PULUMI_BACKEND_URL"])

	// The old backend: dev and prod, and a class with its secret `students` output in state.
	for _, stack := range []string{"dev", "prod"} {
		out, err := s.pulumi("stack", "init", stack)
		require.NoError(t, err, out)
	}
	training, err := os.ReadFile(filepath.Join(s.project, "stacks", "Pulumi.training.yaml"))
	require.NoError(t, err)
	s.addStack(class, training)
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: cliRoot(t)})
	require.NoError(t, err)
	ctx := context.Background()
	stack, err := auto.UpsertStackInlineSource(ctx, class, "deploylab", func(ctx *pulumi.Context) error {
		ctx.Export("students", pulumi.ToSecret(pulumi.Map{"alice": pulumi.StringMap{"user": pulumi.String("alice")}}))
		return nil
	}, auto.WorkDir(s.project), auto.Pulumi(cmd), auto.EnvVars(s.vars))
	require.NoError(t, err)
	_, err = stack.Up(ctx)
	require.NoError(t, err)
	out, err := s.bash("git init -q && git add -A && git -c user.name=test -c user.email=test@example.com commit -q -m committed")
	require.NoError(t, err, out)

	section := operationsBlocks(t, "Move state to an S3 backend")
	require.GreaterOrEqual(t, len(section), 4, "Move state: want the bucket, export, import and verify blocks")
	local := strings.NewReplacer(
		"export PULUMI_BACKEND_URL='s3://deploylab-state/deploylab?region=eu-central-1'",
		"export PULUMI_BACKEND_URL=file://$HOME/new-state",
		"/tmp/", "$HOME/tmp/",
	)
	for _, block := range section[1:3] {
		script := local.Replace(strings.Join(block, "\n"))
		require.NotContains(t, script, "s3://", "the doc's S3 URL changed; update this test's replacement")
		out, err := s.bash(script)
		t.Logf("$ %s\n%s", script, out)
		require.NoError(t, err, "%s:\n%s", script, out)
		require.NotContains(t, out, "Warning", "the doc's commands draw a warning")
	}
	out, err = s.pulumi("whoami", "--verbose")
	require.NoError(t, err, out)
	require.Contains(t, out, "Backend URL: file://"+filepath.Join(home, "deploylab-state"), "the sandbox's own URL must win outside the doc's shell")

	var verify []string
	for _, line := range withPrefix(section[3], "pulumi ") {
		verify = append(verify, "export PULUMI_BACKEND_URL=file://$HOME/new-state && "+line)
	}
	require.Len(t, verify, 2, "Move state step 4: want the stack output and the preview")
	out, err = s.bash(verify[0])
	require.NoError(t, err, "%s:\n%s", verify[0], out)
	require.JSONEq(t, `["alice"]`, out, "the class's secret output did not read back on the new backend")
	out, err = s.bash(verify[1])
	requireOnlyPluginMissing(t, verify[1], out, err)
}

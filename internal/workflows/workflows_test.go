package workflows

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/deploylab/deploylab/internal/testutil"
)

func load(t *testing.T) map[string]*Workflow {
	t.Helper()
	all, err := Load(filepath.Join(testutil.RepoRoot(), ".github", "workflows"))
	require.NoError(t, err)
	byFile := map[string]*Workflow{}
	for _, w := range all {
		byFile[w.File] = w
	}
	for _, f := range []string{"preview.yml", "up.yml", "reap.yml", "reap-watch.yml", "drift.yml", "acceptance.yml"} {
		require.Contains(t, byFile, f)
	}
	return byFile
}

// pinnedTool returns the path of a tool make tools builds into .tools/bin, failing when it is missing.
func pinnedTool(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(testutil.RepoRoot(), ".tools", "bin", name)
	_, err := os.Stat(bin)
	require.NoError(t, err, "%s is missing: run make tools", name)
	return bin
}

// TestActionlint runs the real actionlint (make tools builds it) on every workflow.
func TestActionlint(t *testing.T) {
	t.Parallel()
	bin := pinnedTool(t, "actionlint")
	files, err := filepath.Glob(filepath.Join(testutil.RepoRoot(), ".github", "workflows", "*.yml"))
	require.NoError(t, err)
	out, err := exec.Command(bin, append([]string{"-color=false"}, files...)...).CombinedOutput()
	require.NoError(t, err, "actionlint:\n%s", out)
}

// TestPullRequestJobsHoldNoWriteRoleOrProdSecrets: a pull request's code runs in every job of a PR workflow, so
// none may assume the write role, enter a deploying environment (only `<stack>-preview` ones), or see prod.
func TestPullRequestJobsHoldNoWriteRoleOrProdSecrets(t *testing.T) {
	t.Parallel()
	for _, w := range load(t) {
		if !w.RunsPullRequestCode() {
			continue
		}
		require.NotContains(t, w.On, "pull_request_target", "%s: pull_request_target runs with the base repository's secrets", w.File)
		for name, j := range w.Jobs {
			text := j.Text()
			require.NotContains(t, text, "secrets.AWS_ROLE_ARN", "%s job %s: the write role in a PR job", w.File, name)
			require.NotRegexp(t, `(?i)secrets\.[A-Z_]*PROD`, text, "%s job %s: a prod secret in a PR job", w.File, name)
			if j.Environment != "" {
				require.True(t, strings.HasSuffix(j.Environment, "-preview"), "%s job %s: environment %q is not a -preview one", w.File, name, j.Environment)
				require.NotContains(t, strings.ToLower(j.Environment), "prod", "%s job %s", w.File, name)
			}
			for _, c := range j.PulumiCommands() {
				require.Equal(t, "preview", c, "%s job %s runs pulumi %s", w.File, name, c)
			}
		}
	}
	// The stacks a PR previews come from the backend, never prod: the one matrix source excludes it.
	stacks := load(t)["preview.yml"].Jobs["stacks"]
	require.NotNil(t, stacks)
	var listed bool
	for _, s := range stacks.Steps {
		if strings.Contains(s.Run, "scripts/ci-stacks.sh") {
			listed = true
			require.Equal(t, "prod", s.Env["EXCLUDE"])
		}
	}
	require.True(t, listed, "preview.yml: the stacks job must list the stacks with scripts/ci-stacks.sh")
}

// TestPreviewMatrixComesFromTheBackend: preview and drift run over the stacks scripts/ci-stacks.sh found.
func TestPreviewMatrixComesFromTheBackend(t *testing.T) {
	t.Parallel()
	wf := load(t)
	for file, job := range map[string]string{"preview.yml": "preview", "drift.yml": "drift"} {
		j := wf[file].Jobs[job]
		require.NotNil(t, j, "%s job %s", file, job)
		require.Equal(t, "${{ fromJSON(needs.stacks.outputs.stacks) }}", j.Strategy.Matrix["stack"], file)
		require.Equal(t, "stacks", j.Needs, file)
		require.Contains(t, wf[file].Jobs["stacks"].Text(), "scripts/ci-stacks.sh", file)
	}
}

// TestReapDispatchDefaultsToDryRun: a manual reap only prints unless told otherwise.
func TestReapDispatchDefaultsToDryRun(t *testing.T) {
	t.Parallel()
	reap := load(t)["reap.yml"]
	in := reap.On["workflow_dispatch"].Inputs["dry-run"]
	require.Equal(t, "boolean", in.Type)
	require.Equal(t, true, in.Default)
	run := ""
	for _, s := range reap.Jobs["reap"].Steps {
		if strings.Contains(s.Run, "deploylab reap") {
			run = s.Run
			require.Equal(t, "${{ github.event_name == 'workflow_dispatch' && inputs.dry-run }}", s.Env["DRY_RUN"])
		}
	}
	require.Contains(t, run, `if [[ "${DRY_RUN}" != "true" ]]; then`)
}

// TestGKEWorkflowsAuthenticateToGoogle: every job that previews, deploys or destroys stacks (any of which may hold
// a GKE cluster) authenticates to Google; the reaper and the acceptance test unconditionally.
func TestGKEWorkflowsAuthenticateToGoogle(t *testing.T) {
	t.Parallel()
	for _, w := range load(t) {
		for name, j := range w.Jobs {
			text := j.Text()
			touches := len(j.PulumiCommands()) > 0 || strings.Contains(text, "./cmd/deploylab reap") || strings.Contains(text, "./test/acceptance")
			if !touches {
				continue
			}
			auth := j.StepsUsing("google-github-actions/auth")
			require.Len(t, auth, 1, "%s job %s touches stacks without google-github-actions/auth", w.File, name)
			if strings.Contains(text, "./cmd/deploylab reap") || strings.Contains(text, "./test/acceptance") {
				require.Empty(t, auth[0].If, "%s job %s: Google auth must not be optional", w.File, name)
			}
			// The kubeconfig of a GKE stack (and the class's Kubernetes provider) runs gke-gcloud-auth-plugin.
			require.Contains(t, text, "google-cloud-cli-gke-gcloud-auth-plugin",
				"%s job %s touches stacks that may hold GKE without installing gke-gcloud-auth-plugin", w.File, name)
		}
	}
}

var sha = regexp.MustCompile(`^[0-9a-f]{40}$`)

// TestThirdPartyActionsPinnedWhereTokensAreMinted: in a job that can mint an OIDC token, an action outside GitHub's
// own actions/ is pinned by commit, so a moved tag cannot take the cloud credentials.
func TestThirdPartyActionsPinnedWhereTokensAreMinted(t *testing.T) {
	t.Parallel()
	for _, w := range load(t) {
		for name, j := range w.Jobs {
			if j.Permissions["id-token"] != "write" {
				continue
			}
			for _, s := range j.Steps {
				if s.Uses == "" || strings.HasPrefix(s.Uses, "actions/") {
					continue
				}
				require.Regexp(t, sha, s.Ref(), "%s job %s: %s is not pinned by a 40-hex commit", w.File, name, s.Uses)
			}
		}
	}
}

// TestUpAppliesTheSavedPlan: up.yml previews into a plan file and applies exactly that file, in a later job whose
// environment (prod: required reviewers) gates it.
func TestUpAppliesTheSavedPlan(t *testing.T) {
	t.Parallel()
	up := load(t)["up.yml"]
	plan, apply := up.Jobs["plan"], up.Jobs["up"]
	require.Equal(t, []string{"preview"}, plan.PulumiCommands())
	require.Equal(t, []string{"up"}, apply.PulumiCommands())
	require.Equal(t, "plan", apply.Needs)
	saved := plan.StepsUsing("pulumi/actions")[0].With["plan"]
	require.NotEmpty(t, saved)
	require.Equal(t, saved, apply.StepsUsing("pulumi/actions")[0].With["plan"])
	require.Len(t, apply.StepsUsing("actions/download-artifact"), 1)
	require.NotContains(t, plan.Text(), "secrets.AWS_ROLE_ARN", "the plan job needs only the read-only role")
	require.Contains(t, apply.Text(), "secrets.AWS_ROLE_ARN")
}

// TestDriftCheckIsScheduled: a daily preview with --expect-no-changes (and refresh) of every stack.
func TestDriftCheckIsScheduled(t *testing.T) {
	t.Parallel()
	drift := load(t)["drift.yml"]
	require.NotEmpty(t, drift.On["schedule"].Schedule)
	step := drift.Jobs["drift"].StepsUsing("pulumi/actions")[0]
	require.Equal(t, "preview", step.With["command"])
	require.Equal(t, true, step.With["expect-no-changes"])
	require.Equal(t, true, step.With["refresh"])
}

// TestStaleReapAlert: the reap watcher runs on pushes too (a disabled schedule cannot watch itself) and fails
// and files an issue when the last scheduled reap is too old.
func TestStaleReapAlert(t *testing.T) {
	t.Parallel()
	w := load(t)["reap-watch.yml"]
	require.Contains(t, w.On, "push")
	require.NotEmpty(t, w.On["schedule"].Schedule)
	text := w.Jobs["watch"].Text()
	require.Contains(t, text, "gh run list --workflow reap.yml --event schedule --status success")
	require.Contains(t, text, "gh issue create")
	require.Equal(t, "write", w.Jobs["watch"].Permissions["issues"])
}

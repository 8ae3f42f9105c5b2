package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/deploylab/deploylab/infra"
	"github.com/deploylab/deploylab/internal/plan"
	"github.com/deploylab/deploylab/internal/stackfile"
)

// loadProject reads the repository's Pulumi.yaml the way the CLI does (schema and Validate included).
func loadProject(t *testing.T) *workspace.Project {
	t.Helper()
	project, err := workspace.LoadProject(filepath.Join(root, "Pulumi.yaml"))
	require.NoError(t, err)
	return project
}

// engineRun is one inline preview of a configuration under the real engine.
type engineRun struct {
	// loaded is what infra.Load made of the configuration the engine handed the program, and loadErr its error.
	loaded  *infra.Config
	loadErr error
	// previewErr is the Automation API's error for the preview, with the CLI's output in it.
	previewErr error
}

// previewUnderEngine previews configuration c with the repository's Pulumi.yaml as the project settings and an
// inline program that loads and validates the configuration (infra.Load) and exports nothing. The program reads
// every key the engine could hand it (the stack file's keys, Pulumi.yaml's keys, aws:region): that is the map
// pulumi-language-go passes a real program in PULUMI_CONFIG, which infra.Program reads.
func previewUnderEngine(t *testing.T, cmd auto.PulumiCommand, c config) engineRun {
	t.Helper()
	s := newSandbox(t, true)
	path := s.addStack(c.name, c.data)
	fileKeys, _, err := stackfile.Read(path)
	require.NoError(t, err)
	keys := []string{"aws:region"}
	for key := range fileKeys {
		keys = append(keys, key)
	}
	for key := range loadProject(t).Config {
		keys = append(keys, key)
	}
	var run engineRun
	program := func(ctx *pulumi.Context) error {
		raw := map[string]string{}
		for _, key := range keys {
			if value, ok := ctx.GetConfig(key); ok {
				raw[key] = value
			}
		}
		run.loaded, run.loadErr = infra.Load(raw)
		return run.loadErr
	}
	ctx := context.Background()
	stack, err := auto.UpsertStackInlineSource(ctx, c.name, "deploylab", program,
		auto.WorkDir(s.project), auto.Pulumi(cmd), auto.EnvVars(s.vars))
	require.NoError(t, err)
	_, run.previewErr = stack.Preview(ctx)
	return run
}

// TestConfigUnderRealEngine runs the program's configuration loading under the real engine: every accepted
// configuration loads to exactly what the offline plan loads from the stack file (so the engine's encoding of
// object values, numbers and the Pulumi.yaml defaults is what Load parses), and every invalid fixture is refused
// with the offline plan's message — or, when it lacks a key Pulumi.yaml makes required, by the CLI naming that key.
func TestConfigUnderRealEngine(t *testing.T) {
	t.Parallel()
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: cliRoot(t)})
	require.NoError(t, err)
	project := loadProject(t)

	for _, c := range acceptedConfigs(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			want, err := infra.Load(readRaw(t, c))
			require.NoError(t, err)
			run := previewUnderEngine(t, cmd, c)
			require.NoError(t, run.previewErr)
			require.NoError(t, run.loadErr)
			require.Equal(t, want, run.loaded, "the engine's configuration loads differently from the stack file's")
		})
	}

	for _, c := range refusedConfigs(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			raw := readRaw(t, c)
			var missing []string
			for key, decl := range project.Config {
				if _, set := raw[key]; decl.Default == nil && decl.Value == nil && !set {
					missing = append(missing, key)
				}
			}
			slices.Sort(missing)
			_, planErr := plan.Run(context.Background(), c.name, raw)
			require.ErrorIs(t, planErr, plan.ErrInvalidConfig)

			run := previewUnderEngine(t, cmd, c)
			require.Error(t, run.previewErr, "the real engine accepted %s", c.name)
			got := run.previewErr.Error()
			if len(missing) > 0 {
				// The CLI refuses the stack before the program runs.
				require.Nil(t, run.loaded)
				require.NoError(t, run.loadErr, "the program ran although the CLI should have refused the stack")
				require.Contains(t, got, fmt.Sprintf("Stack '%s' is missing configuration value", c.name))
				for _, key := range missing {
					require.Contains(t, got, "'"+key+"'")
				}
				return
			}
			require.Error(t, run.loadErr)
			offline := strings.TrimPrefix(planErr.Error(), plan.ErrInvalidConfig.Error()+": ")
			require.Equal(t, offline, run.loadErr.Error(), "the program under the engine and the offline plan disagree")
			require.Contains(t, unindent(got), unindent(offline), "the engine does not print the offline plan's message")
		})
	}
}

// readRaw is the raw configuration the offline plan reads from a configuration's stack file.
func readRaw(t *testing.T, c config) map[string]string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "Pulumi."+c.name+".yaml")
	require.NoError(t, os.WriteFile(path, c.data, 0o600))
	raw, _, err := stackfile.Read(path)
	require.NoError(t, err)
	return raw
}

// unindent drops what the engine adds around a program's error when it prints it: each line's indentation and the
// "* " of the SDK's error list ("error: an unhandled error occurred: 1 error occurred:\n\t* invalid stack
// config:\n      deploylab:..."). The words and the line breaks stay, so the two texts compare line by line.
func unindent(text string) string {
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		lines[i] = strings.TrimPrefix(strings.TrimSpace(line), "* ")
	}
	return strings.Join(lines, "\n")
}

package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/deploylab/deploylab/infra"
	"github.com/deploylab/deploylab/internal/plan"
	"github.com/deploylab/deploylab/internal/stackfile"
)

// operationsBlocks returns the command lines of each `sh` block in a section (## heading) of docs/operations.md.
func operationsBlocks(t *testing.T, section string) [][]string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(root, "docs", "operations.md"))
	require.NoError(t, err)
	text := string(doc)
	start := strings.Index(text, "\n## "+section+"\n")
	require.GreaterOrEqual(t, start, 0, "docs/operations.md has no section %q", section)
	text = text[start+1:]
	if end := strings.Index(text[3:], "\n## "); end >= 0 {
		text = text[:end+3]
	}
	var blocks [][]string
	for _, m := range regexp.MustCompile("(?s)```sh\\n(.*?)\\n\\s*```").FindAllStringSubmatch(text, -1) {
		var lines []string
		for _, line := range commandLines([]byte(m[1])) {
			// A line ending in a backslash continues on the next.
			if n := len(lines); n > 0 && strings.HasSuffix(lines[n-1], "\\") {
				lines[n-1] = strings.TrimSuffix(lines[n-1], "\\") + line
				continue
			}
			lines = append(lines, line)
		}
		blocks = append(blocks, lines)
	}
	require.NotEmpty(t, blocks, "section %q of docs/operations.md has no sh block", section)
	return blocks
}

// withPrefix keeps the lines that start with prefix: the CLI commands of a block that also runs other tools.
func withPrefix(lines []string, prefix string) []string {
	var kept []string
	for _, line := range lines {
		if strings.HasPrefix(line, prefix) {
			kept = append(kept, line)
		}
	}
	return kept
}

// TestClassFlow runs docs/operations.md's class flow with the real CLI: a class stack copied from the training
// template (which, as committed after its own first `stack init`, has a salt), the offline plan of it, the preview
// with the policy pack, extending the expiry with `pulumi config set`, and tearing the stack down.
func TestClassFlow(t *testing.T) {
	t.Parallel()
	const class = "k8s-2026-12"
	s := newSandbox(t, true)
	template := filepath.Join(s.project, "stacks", "Pulumi.training.yaml")
	classFile := filepath.Join(s.project, "stacks", "Pulumi."+class+".yaml")
	out, err := s.pulumi("stack", "init", "training")
	require.NoError(t, err, out)
	salt := regexp.MustCompile(`(?m)^encryptionsalt: .*$`)
	templateData, err := os.ReadFile(template)
	require.NoError(t, err)
	templateSalt := salt.Find(templateData)
	require.NotNil(t, templateSalt, "stack init training wrote no salt")
	// The class is the roster the teacher edits; the template's roster is as good as any.
	templateRaw, _, err := stackfile.Read(template)
	require.NoError(t, err)

	start := operationsBlocks(t, "Start a class")
	require.GreaterOrEqual(t, len(start), 3, "Start a class: want the stack creation, plan and preview blocks")
	t.Run("stack init of a copy of the template", func(t *testing.T) {
		runLines(t, s, start[0])
		data, err := os.ReadFile(classFile)
		require.NoError(t, err)
		classSalt := salt.Find(data)
		require.NotNil(t, classSalt, "stack init %s wrote no salt:\n%s", class, data)
		require.NotEqual(t, string(templateSalt), string(classSalt), "the class stack kept the template's salt")
		raw, _, err := stackfile.Read(classFile)
		require.NoError(t, err)
		require.Equal(t, templateRaw, raw, "the class stack's configuration differs from the template's")
	})

	t.Run("offline plan", func(t *testing.T) {
		// `go run ./cmd/deploylab plan --stack NAME` is plan.Run on the stack file's configuration.
		require.Contains(t, strings.Join(start[1], "\n"), "go run ./cmd/deploylab plan --stack "+class)
		raw, _, err := stackfile.Read(classFile)
		require.NoError(t, err)
		_, err = plan.Run(context.Background(), class, raw)
		require.NoError(t, err)
	})

	t.Run("preview and up with the policy pack", func(t *testing.T) {
		require.NoError(t, os.CopyFS(filepath.Join(s.project, "policy"), os.DirFS(filepath.Join(root, "policy"))))
		runLines(t, s, start[2])
	})

	t.Run("extend the expiry", func(t *testing.T) {
		sets := withPrefix(operationsBlocks(t, "Extend an expiry")[0], "pulumi config set ")
		require.Len(t, sets, 1, "Extend an expiry: want one pulumi config set")
		before, _, err := stackfile.Read(classFile)
		require.NoError(t, err)
		runLines(t, s, sets)
		after, _, err := stackfile.Read(classFile)
		require.NoError(t, err)
		fields := strings.Fields(sets[0])
		want := fields[len(fields)-1]
		cfg, err := infra.Load(after)
		require.NoError(t, err)
		require.Equal(t, want, cfg.ExpiresAt)
		delete(before, "deploylab:expiresAt")
		delete(after, "deploylab:expiresAt")
		require.Equal(t, before, after, "pulumi config set changed other keys")
	})

	t.Run("tear down early", func(t *testing.T) {
		lines := withPrefix(operationsBlocks(t, "Tear down early")[0], "pulumi ")
		require.Len(t, lines, 2, "Tear down early: want pulumi destroy and pulumi stack rm")
		runLines(t, s, lines)
		out, err := s.pulumi("stack", "ls", "--json")
		require.NoError(t, err, out)
		require.NotContains(t, out, class)
		// What the doc's `git rm` then records.
		require.NoFileExists(t, classFile, "pulumi stack rm kept the stack file")
	})
}

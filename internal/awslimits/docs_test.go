package awslimits

import (
	"flag"
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the table in docs/limits.md")

// TestDocsTable keeps the table of docs/limits.md equal to Rules: `go test ./internal/awslimits -update`.
func TestDocsTable(t *testing.T) {
	t.Parallel()
	const path = "../../docs/limits.md"
	doc, err := os.ReadFile(path)
	require.NoError(t, err)
	block := regexp.MustCompile(`(?s)(<!-- limits-table -->\n).*?(<!-- /limits-table -->)`)
	require.True(t, block.Match(doc), "docs/limits.md has no <!-- limits-table --> block")
	want := block.ReplaceAllLiteral(doc, []byte("<!-- limits-table -->\n"+Table()+"<!-- /limits-table -->"))
	if *update {
		require.NoError(t, os.WriteFile(path, want, 0o644))
		return
	}
	require.Equal(t, string(want), string(doc), "docs/limits.md is out of date: go test ./internal/awslimits -update")
}

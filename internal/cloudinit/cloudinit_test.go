package cloudinit

import (
	"strings"
	"testing"

	"github.com/deploylab/deploylab/internal/testutil"
	"github.com/stretchr/testify/require"
)

// TestRenderPassesCloudInitSchema renders a document using every field and checks it with the real
// `cloud-init schema`, so a field name or shape this package gets wrong fails here first.
func TestRenderPassesCloudInitSchema(t *testing.T) {
	t.Parallel()
	doc, err := Render(Config{
		Users: []User{{
			Name: "deploy", Groups: []string{"docker"}, Shell: "/bin/bash", Sudo: "ALL=(ALL) NOPASSWD:ALL",
			LockPasswd: Bool(false), HashedPasswd: "$6$saltsalt$abc", SSHAuthorizedKeys: []string{"ssh-ed25519 AAAAC3Nza test"},
		}},
		SSHPwauth: Bool(false), DisableRoot: Bool(true), PackageUpdate: true, Packages: []string{"nginx"},
		WriteFiles: []WriteFile{{Path: "/etc/x", Content: "line: 1\n# not a comment of the document\n", Permissions: "0644", Defer: true}},
		BootCmd:    [][]string{{"true"}}, RunCmd: [][]string{{"systemctl", "enable", "--now", "nginx"}},
		FinalMessage: "done",
	})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(doc, "#cloud-config\n"))
	testutil.CheckCloudInitSchema(t, doc)
}

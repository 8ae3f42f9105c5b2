package stackfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// readText reads a stack file with the given text.
func readText(t *testing.T, text string) (map[string]string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "Pulumi.s.yaml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	raw, secrets, err := Read(path)
	require.NoError(t, err)
	return raw, secrets
}

// TestSecureValuesArePlaceholders checks that a `secure:` value is planned without the passphrase.
func TestSecureValuesArePlaceholders(t *testing.T) {
	t.Parallel()
	raw, secrets := readText(t, "encryptionsalt: v1:abc\nconfig:\n  deploylab:owner:\n    secure: v1:AAAA\n  deploylab:appHost:\n    domain: {secure: v1:BBBB}\n")
	require.Equal(t, SecretPlaceholder, raw["deploylab:owner"])
	require.JSONEq(t, `{"domain": "[secret]"}`, raw["deploylab:appHost"])
	require.ElementsMatch(t, []string{"deploylab:owner", "deploylab:appHost"}, secrets)
}

// TestRosterShorthand: bare names and mappings both reach the program as JSON, as the engine passes them.
func TestRosterShorthand(t *testing.T) {
	t.Parallel()
	raw, _ := readText(t, "config:\n  deploylab:classroom:\n    students:\n      - alice\n      - {name: bob, sshPublicKeys: [k]}\n")
	require.JSONEq(t, `{"students": ["alice", {"name": "bob", "sshPublicKeys": ["k"]}]}`, raw["deploylab:classroom"])
}

// FuzzRead feeds arbitrary stack files to the reader: errors are fine, panics are not.
func FuzzRead(f *testing.F) {
	f.Add([]byte("config:\n  deploylab:env: dev\n  deploylab:appHost: {bluePort: 1}\n"))
	f.Add([]byte("config:\n  deploylab:owner:\n    secure: v1:AAAA\n  deploylab:classroom: {students: [{name: a, sshPublicKeys: [x]}]}\n"))
	f.Add([]byte("config:\n  deploylab:classroom: {students: [alice, bob]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "Pulumi.f.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, _ = Read(path)
	})
}

package plan

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/deploylab/deploylab/components/apphost"
	"github.com/deploylab/deploylab/internal/stackfile"
)

// userDataSize is an instance's user data as EC2 counts it: the plain text of userData (the provider base64-encodes
// it for the API; EC2's 16 KB is before base64), or the decoded bytes of userDataBase64 (gzip, for Jenkins).
func userDataSize(t *testing.T, res *Result, r Resource) int {
	t.Helper()
	if _, ok := r.Inputs["userData"]; ok {
		return len(res.UserData[r.Name])
	}
	encoded, _ := r.Inputs["userDataBase64"].(string)
	require.NotEqual(t, stackfile.SecretPlaceholder, encoded, "%s: userDataBase64 is secret, its size cannot be planned", r.Name)
	raw, err := base64.StdEncoding.DecodeString(encoded)
	require.NoError(t, err, "%s: userDataBase64", r.Name)
	return len(raw)
}

// TestUserDataBudgetEveryStack holds every EC2 instance of every stack file, valid fixture, a class of 30 and the
// largest configuration (Ubuntu, ALB, Jenkins, passwords) to 80% of EC2's 16,384 bytes.
func TestUserDataBudgetEveryStack(t *testing.T) {
	t.Parallel()
	plans := map[string]func(t *testing.T) *Result{
		"class of 30": func(t *testing.T) *Result { return planClass(t, 30) },
		"ubuntu alb jenkins passwords": func(t *testing.T) *Result {
			res, err := Run(context.Background(), "largest", map[string]string{
				"aws:region":           "eu-central-1",
				"deploylab:env":        "prod",
				"deploylab:owner":      "platform",
				"deploylab:adminCidrs": `["198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"]`,
				"deploylab:appHost": `{"image": "ubuntu-24.04", "passwordAuth": true, "sshPublicKeys": [` +
					`"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBv0X1ElBvbRzH0XbcNpVkWlQ0eI5X9T2Qyq4K8btest one@x",` +
					`"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBv0X1ElBvbRzH0XbcNpVkWlQ0eI5X9T2Qyq4K8btest two@x"]}`,
				"deploylab:blueGreen": `{"enabled": true}`,
				"deploylab:jenkins":   `{"enabled": true}`,
			})
			require.NoError(t, err)
			return res
		},
	}
	for _, file := range stackFiles(t) {
		plans[filepath.Base(file)] = func(t *testing.T) *Result { return planFile(t, file) }
	}
	for name, plan := range plans {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := plan(t)
			for _, r := range res.Resources {
				if r.Type != "aws:ec2/instance:Instance" {
					continue
				}
				size := userDataSize(t, res, r)
				t.Logf("%s: %d bytes of user data (budget %d)", r.Name, size, apphost.UserDataBudget)
				require.LessOrEqual(t, size, apphost.UserDataBudget, "%s: user data over 80%% of EC2's 16,384 bytes", r.Name)
			}
		})
	}
}

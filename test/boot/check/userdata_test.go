package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPasswordIntent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		dropIn  string
		want    map[string]string
		wantErr string
	}{
		{
			name:   "keys only",
			dropIn: "PermitRootLogin no\nPasswordAuthentication no\n",
			want:   map[string]string{"deploy": "no", "trainee": "no"},
		},
		{
			name:   "one password user",
			dropIn: "# c\nPasswordAuthentication no\nMatch User trainee,other\n  PasswordAuthentication yes\n",
			want:   map[string]string{"deploy": "no", "trainee": "yes"},
		},
		{
			name:   "silent drop-in keeps sshd's default",
			dropIn: "MaxAuthTries 3\n",
			want:   map[string]string{"deploy": "yes", "trainee": "yes"},
		},
		{
			name:   "first global value wins",
			dropIn: "PasswordAuthentication no\nPasswordAuthentication yes\n",
			want:   map[string]string{"deploy": "no", "trainee": "no"},
		},
		{
			name:    "unknown match form",
			dropIn:  "Match Address 10.0.0.0/8\n  PasswordAuthentication yes\n",
			wantErr: "only `Match User a,b` is understood",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := passwordIntent(tt.dropIn, []string{"deploy", "trainee"})
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestLoadUserDataSamples(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"../sample/app-host-password.yaml", "../sample/app-host-keys.yaml"} {
		ud, err := loadUserData(f)
		require.NoError(t, err, f)
		require.NotEmpty(t, ud.Users, f)
		assert.Equal(t, []string{"docker"}, ud.Users[0].Groups, f)
		_, ok := ud.file(sshdDropIn)
		assert.True(t, ok, "%s has no %s", f, sshdDropIn)
	}
}

func TestMaxAuthTries(t *testing.T) {
	t.Parallel()
	for dropIn, want := range map[string]string{
		"PermitRootLogin no\nMaxAuthTries 6\n": "6",
		"# MaxAuthTries 2\nMaxAuthTries 4\n":   "4",
		"maxauthtries 5\nMaxAuthTries 3\n":     "5",
		"PermitRootLogin no\n":                 "6",
		"Match User a\n    MaxAuthTries 9\n":   "6",
	} {
		if got := maxAuthTries(dropIn); got != want {
			t.Errorf("maxAuthTries(%q) = %s, want %s", dropIn, got, want)
		}
	}
}

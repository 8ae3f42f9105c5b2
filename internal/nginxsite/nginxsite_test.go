package nginxsite_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/deploylab/deploylab/internal/nginxsite"
	"github.com/deploylab/deploylab/internal/nginxsite/nginxtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./internal/nginxsite -update to create it")
	assert.Equal(t, string(want), got)
}

// TestRenderValid renders sites, compares them with the golden files and runs the real `nginx -t` on each,
// with the include pointing at a real upstream file.
func TestRenderValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args func(upstream string) nginxsite.Args
	}{
		{name: "valid-defaults", args: func(u string) nginxsite.Args { return nginxsite.Args{UpstreamFile: u} }},
		{name: "valid-domain-port", args: func(u string) nginxsite.Args {
			return nginxsite.Args{UpstreamFile: u, ServerName: "app.example.com www.example.com", ListenPort: 8088}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The golden file uses a fixed path; nginx -t gets the same site with the real temporary path.
			site, err := nginxsite.Render(tt.args("/etc/nginx/deploylab/upstream.conf"))
			require.NoError(t, err)
			golden(t, tt.name+".conf", site)

			dir := t.TempDir()
			upstream := filepath.Join(dir, "upstream.conf")
			require.NoError(t, os.WriteFile(upstream, []byte(nginxsite.Upstream(8081)), 0o644))
			site, err = nginxsite.Render(tt.args(upstream))
			require.NoError(t, err)
			out, err := nginxtest.NewPrefix(t, site).Test()
			require.NoError(t, err, out)
			assert.Contains(t, out, "syntax is ok")
		})
	}
}

func TestRenderInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args nginxsite.Args
		want []string
	}{
		{name: "invalid-missing-upstream", args: nginxsite.Args{}, want: []string{"UpstreamFile is required"}},
		{name: "invalid-everything", args: nginxsite.Args{UpstreamFile: "rel/up.conf", ServerName: "a;b", ListenPort: 70000},
			want: []string{`UpstreamFile "rel/up.conf": want an absolute path`, `ServerName "a;b"`, "ListenPort 70000: want 1-65535"}},
		{name: "invalid-injection", args: nginxsite.Args{UpstreamFile: "/x; include /etc/passwd"},
			want: []string{`UpstreamFile "/x; include /etc/passwd"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := nginxsite.Render(tt.args)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestUpstreamGolden(t *testing.T) {
	t.Parallel()
	golden(t, "upstream-8082.conf", nginxsite.Upstream(8082))
}

// Package nginxsite renders the nginx site of the app host: a reverse proxy to the upstream `deploylab_app`,
// whose definition lives in a separate include that scripts/deploy.sh rewrites on every switch.
package nginxsite

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// UpstreamName is the upstream the site proxies to and the upstream include defines.
const UpstreamName = "deploylab_app"

// Args configures Render.
type Args struct {
	// ServerName is the nginx server_name. Optional, default "_" (any host).
	ServerName string
	// UpstreamFile is the absolute path of the include that defines upstream deploylab_app (deploy.sh's
	// NGINX_UPSTREAM_FILE). Required.
	UpstreamFile string
	// ListenPort is the HTTP port nginx listens on (IPv4 and IPv6). Optional, default 80.
	ListenPort int
}

func setDefaults(a Args) Args {
	if a.ServerName == "" {
		a.ServerName = "_"
	}
	if a.ListenPort == 0 {
		a.ListenPort = 80
	}
	return a
}

// serverNameRe accepts what nginx accepts as server names without quoting: host names, wildcards, "_".
var serverNameRe = regexp.MustCompile(`^[A-Za-z0-9_*.-]+( [A-Za-z0-9_*.-]+)*$`)

func validate(a Args) error {
	var errs []error
	if !serverNameRe.MatchString(a.ServerName) {
		errs = append(errs, fmt.Errorf("ServerName %q: want space-separated host names (letters, digits, '.', '-', '*', '_')", a.ServerName))
	}
	switch {
	case a.UpstreamFile == "":
		errs = append(errs, errors.New("UpstreamFile is required: the absolute path of the upstream include"))
	case !filepath.IsAbs(a.UpstreamFile) || strings.ContainsAny(a.UpstreamFile, " \t\n;{}'\"$"):
		errs = append(errs, fmt.Errorf("UpstreamFile %q: want an absolute path without spaces, quotes, ';', '{', '}' or '$'", a.UpstreamFile))
	}
	if a.ListenPort < 1 || a.ListenPort > 65535 {
		errs = append(errs, fmt.Errorf("ListenPort %d: want 1-65535", a.ListenPort))
	}
	return errors.Join(errs...)
}

// Render returns the site: the include of the upstream file followed by the server block. Both are valid inside
// http {} (Debian's sites-enabled is included there), so the file is self-contained: installing it is enough.
func Render(a Args) (string, error) {
	a = setDefaults(a)
	if err := validate(a); err != nil {
		return "", err
	}
	return fmt.Sprintf(`# Managed by deploylab. The upstream is switched by scripts/deploy.sh, not here.
include %[1]s;

server {
    listen %[2]d;
    listen [::]:%[2]d;
    server_name %[3]s;

    location / {
        proxy_pass http://%[4]s;
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }
}
`, a.UpstreamFile, a.ListenPort, a.ServerName, UpstreamName), nil
}

// Upstream returns the content of the upstream include pointing at 127.0.0.1:port. scripts/deploy.sh writes
// exactly this shape (a test holds them together).
func Upstream(port int) string {
	return fmt.Sprintf("upstream %s {\n    server 127.0.0.1:%d;\n}\n", UpstreamName, port)
}

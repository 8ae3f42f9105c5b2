package gke

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// AuthPlugin is the exec credential plugin the kubeconfig calls for a token. It reads the caller's gcloud
// credentials, so the kubeconfig itself holds no secret beyond the cluster's address.
const AuthPlugin = "gke-gcloud-auth-plugin"

// KubeconfigInput is what a kubeconfig for one cluster is built from.
type KubeconfigInput struct {
	Project, Region, ClusterName string
	// Endpoint is the cluster's API address (GKE gives an IP); https:// is added.
	Endpoint string
	// CACertificate is the cluster CA as GKE returns it: base64 of the PEM.
	CACertificate string
}

// kubeconfig mirrors the parts of the kubeconfig format used here, in the order kubectl writes them.
type kubeconfig struct {
	APIVersion     string         `yaml:"apiVersion"`
	Kind           string         `yaml:"kind"`
	Clusters       []namedCluster `yaml:"clusters"`
	Contexts       []namedContext `yaml:"contexts"`
	CurrentContext string         `yaml:"current-context"`
	Users          []namedUser    `yaml:"users"`
}

type namedCluster struct {
	Name    string `yaml:"name"`
	Cluster struct {
		Server                   string `yaml:"server"`
		CertificateAuthorityData string `yaml:"certificate-authority-data"`
	} `yaml:"cluster"`
}

type namedContext struct {
	Name    string `yaml:"name"`
	Context struct {
		Cluster string `yaml:"cluster"`
		User    string `yaml:"user"`
	} `yaml:"context"`
}

type namedUser struct {
	Name string `yaml:"name"`
	User struct {
		Exec execConfig `yaml:"exec"`
	} `yaml:"user"`
}

type execConfig struct {
	APIVersion         string `yaml:"apiVersion"`
	Command            string `yaml:"command"`
	InstallHint        string `yaml:"installHint"`
	ProvideClusterInfo bool   `yaml:"provideClusterInfo"`
}

// Kubeconfig renders a kubeconfig for the cluster that authenticates with gke-gcloud-auth-plugin. Its names
// follow gcloud's (gke_PROJECT_REGION_NAME), so it merges with `gcloud container clusters get-credentials`.
func Kubeconfig(in KubeconfigInput) (string, error) {
	if in.Endpoint == "" || in.CACertificate == "" || in.ClusterName == "" {
		return "", fmt.Errorf("gke: kubeconfig needs the cluster name, endpoint and CA certificate (got name %q, endpoint %q, CA of %d bytes)",
			in.ClusterName, in.Endpoint, len(in.CACertificate))
	}
	name := fmt.Sprintf("gke_%s_%s_%s", in.Project, in.Region, in.ClusterName)
	var c namedCluster
	c.Name = name
	c.Cluster.Server = "https://" + in.Endpoint
	c.Cluster.CertificateAuthorityData = in.CACertificate
	var ctx namedContext
	ctx.Name = name
	ctx.Context.Cluster = name
	ctx.Context.User = name
	var u namedUser
	u.Name = name
	u.User.Exec = execConfig{
		APIVersion:         "client.authentication.k8s.io/v1beta1",
		Command:            AuthPlugin,
		InstallHint:        "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin (or the Debian package google-cloud-cli-gke-gcloud-auth-plugin); see docs/gke.md",
		ProvideClusterInfo: true,
	}
	var out strings.Builder
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	err := enc.Encode(kubeconfig{
		APIVersion:     "v1",
		Kind:           "Config",
		Clusters:       []namedCluster{c},
		Contexts:       []namedContext{ctx},
		CurrentContext: name,
		Users:          []namedUser{u},
	})
	if err == nil {
		err = enc.Close()
	}
	if err != nil {
		return "", fmt.Errorf("gke: rendering kubeconfig: %w", err)
	}
	return out.String(), nil
}

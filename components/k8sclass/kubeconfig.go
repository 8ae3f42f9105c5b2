package k8sclass

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// KubeconfigInput is what a student's kubeconfig is built from.
type KubeconfigInput struct {
	// ClusterName names the cluster entry; the context is ClusterName-User.
	ClusterName string
	// Server is the API server's URL.
	Server string
	// CACertificate is the cluster CA, base64 of the PEM.
	CACertificate string
	// User is the student; Namespace their namespace, the context's default.
	User, Namespace string
	// Token is the service account token (plain, not base64).
	Token string
}

// Kubeconfig renders a kubeconfig that authenticates with a bearer token: no exec plugin and no Google
// identity, so it works from a student's host with kubectl alone. Its context defaults to the student's
// namespace, where all their rights are.
func Kubeconfig(in KubeconfigInput) (string, error) {
	if in.Server == "" || in.CACertificate == "" || in.Token == "" || in.Namespace == "" {
		return "", fmt.Errorf("k8sclass: a kubeconfig for %q needs the server, CA, token and namespace (server %q, CA of %d bytes, token of %d bytes, namespace %q)",
			in.User, in.Server, len(in.CACertificate), len(in.Token), in.Namespace)
	}
	context := in.ClusterName + "-" + in.User
	doc := map[string]any{
		"apiVersion": "v1",
		"kind":       "Config",
		"clusters": []any{map[string]any{
			"name":    in.ClusterName,
			"cluster": map[string]any{"server": in.Server, "certificate-authority-data": in.CACertificate},
		}},
		"users": []any{map[string]any{"name": in.User, "user": map[string]any{"token": in.Token}}},
		"contexts": []any{map[string]any{
			"name":    context,
			"context": map[string]any{"cluster": in.ClusterName, "user": in.User, "namespace": in.Namespace},
		}},
		"current-context": context,
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("k8sclass: rendering the kubeconfig of %q: %w", in.User, err)
	}
	return string(out), nil
}

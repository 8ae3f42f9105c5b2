package reap

// Before a stack with a GKE cluster is destroyed, the reaper deletes from inside the cluster what students
// created that makes Google Cloud resources outside Pulumi's state: a Service of type LoadBalancer makes a
// forwarding rule, a target pool or backend service and k8s-fw-* firewall rules; an Ingress makes a URL map,
// backend services and NEG firewall rules; a PersistentVolumeClaim makes a persistent disk (reclaim policy
// Delete). Deleting the cluster leaves all of them billing (kubernetes/ingress-gce#1195), and the firewall
// rules then block deleting the VPC, so the destroy fails (hashicorp/terraform-provider-google#5948).
// Deleting the objects first lets GKE's own controllers remove what they made; `kubectl delete --wait` returns
// only when their finalizers are done. Doing it from inside, rather than by the labels GKE puts on the cloud
// resources, needs no knowledge of GKE's naming and removes exactly what this cluster's controllers own.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// kubeconfigOutput is the stack output holding the cluster's admin kubeconfig (infra.Deploy exports it when
// GKE is enabled).
const kubeconfigOutput = "kubeconfig"

// cleanupTimeout bounds each delete: GKE removes a load balancer in a few minutes.
const cleanupTimeout = 10 * time.Minute

// clusterObject is one Kubernetes object the cleanup deletes.
type clusterObject struct {
	// Kind is as kubectl names it: service, ingress or persistentvolumeclaim.
	Kind, Namespace, Name string
	// Volume is the PersistentVolume bound to a claim, waited for after the claim is gone: its disk is
	// deleted only with it.
	Volume string
}

func (o clusterObject) String() string { return o.Kind + "/" + o.Namespace + "/" + o.Name }

// clusterKubeconfig returns the kubeconfig of a stack's cluster, if its outputs have one.
func clusterKubeconfig(outputs map[string]any) (string, bool) {
	kc, ok := outputs[kubeconfigOutput].(string)
	return kc, ok && strings.TrimSpace(kc) != ""
}

// listedObjects is the part of `kubectl get … -o json` the decision reads.
type listedObjects struct {
	Items []struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Spec struct {
			Type       string `json:"type"`
			VolumeName string `json:"volumeName"`
		} `json:"spec"`
	} `json:"items"`
}

// cleanupTargets decides from a listing of Services, Ingresses and PersistentVolumeClaims in all namespaces
// which to delete: Services of type LoadBalancer (others make nothing outside the cluster), every Ingress,
// every claim. The order is Ingresses, then Services, then claims: an Ingress's backends may be Services.
func cleanupTargets(listing []byte) ([]clusterObject, error) {
	var list listedObjects
	if err := json.Unmarshal(listing, &list); err != nil {
		return nil, fmt.Errorf("reading the cluster's object list: %w", err)
	}
	rank := map[string]int{"ingress": 0, "service": 1, "persistentvolumeclaim": 2}
	var out []clusterObject
	for _, it := range list.Items {
		o := clusterObject{Kind: strings.ToLower(it.Kind), Namespace: it.Metadata.Namespace, Name: it.Metadata.Name}
		switch o.Kind {
		case "service":
			if it.Spec.Type != "LoadBalancer" {
				continue
			}
		case "persistentvolumeclaim":
			o.Volume = it.Spec.VolumeName
		case "ingress":
		default:
			continue
		}
		out = append(out, o)
	}
	sort.SliceStable(out, func(i, j int) bool { return rank[out[i].Kind] < rank[out[j].Kind] })
	return out, nil
}

// cleanCluster deletes the cleanup targets of the cluster a kubeconfig reaches, waiting for each to be gone
// (and for each claim's volume), and returns what it deleted. kubectl comes from PATH, or $KUBECTL; a GKE
// kubeconfig also needs gke-gcloud-auth-plugin and Google credentials allowed to reach the cluster.
func cleanCluster(ctx context.Context, kubeconfig string) ([]clusterObject, error) {
	dir, err := os.MkdirTemp("", "deploylab-reap-kube-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		return nil, err
	}
	kubectl := func(args ...string) ([]byte, error) {
		bin := os.Getenv("KUBECTL")
		if bin == "" {
			bin = "kubectl"
		}
		cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", path}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			// kubectl's last line is its verdict ("The connection to the server … was refused"); the lines
			// before it are client-go's retries.
			last := ""
			if ee, ok := err.(*exec.ExitError); ok {
				lines := strings.Split(strings.TrimSpace(string(ee.Stderr)), "\n")
				last = lines[len(lines)-1]
			}
			return out, fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, last)
		}
		return out, nil
	}
	listing, err := kubectl("get", "services,ingresses,persistentvolumeclaims", "--all-namespaces", "-o", "json")
	if err != nil {
		return nil, fmt.Errorf("listing what students left in the cluster: %w", err)
	}
	targets, err := cleanupTargets(listing)
	if err != nil {
		return nil, err
	}
	timeout := "--timeout=" + cleanupTimeout.String()
	for _, o := range targets {
		if _, err := kubectl("delete", o.Kind, o.Name, "-n", o.Namespace, "--ignore-not-found", "--wait=true", timeout); err != nil {
			return nil, fmt.Errorf("deleting %s: %w", o, err)
		}
	}
	for _, o := range targets {
		if o.Volume == "" {
			continue
		}
		if _, err := kubectl("wait", "--for=delete", "persistentvolume/"+o.Volume, timeout); err != nil && !strings.Contains(err.Error(), "NotFound") {
			return nil, fmt.Errorf("waiting for the disk of %s (volume %s) to be deleted: %w", o, o.Volume, err)
		}
	}
	return targets, nil
}

package plan

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deploylab/deploylab/internal/stackfile"
	"github.com/deploylab/deploylab/internal/testutil"
)

// TestTrainingClassOnGKE checks the training stack wires the class to the cluster: every student's host may
// reach the API, each student gets a namespace and a quota sized from the zonal pool, the kubeconfigs are a
// secret output, and the cost names the NAT's address and the free tier.
func TestTrainingClassOnGKE(t *testing.T) {
	t.Parallel()
	res := planFile(t, filepath.Join(testutil.RepoRoot(), "stacks", "Pulumi.training.yaml"))
	byKey := map[string]Resource{}
	for _, r := range res.Resources {
		byKey[r.Type+" "+r.Name] = r
	}
	cluster := byKey["gcp:container/cluster:Cluster gke-cluster"]
	assert.Equal(t, "asia-northeast3-a", cluster.Inputs["location"])
	var names []string
	for _, b := range cluster.Inputs["masterAuthorizedNetworksConfig"].(map[string]any)["cidrBlocks"].([]any) {
		block := b.(map[string]any)
		names = append(names, block["displayName"].(string))
		assert.Regexp(t, `/(24|32)$`, block["cidrBlock"])
	}
	assert.Equal(t, []string{"admin-0", "student-alice", "student-bob", "student-chulsoo"}, names)

	for _, s := range []string{"alice", "bob", "chulsoo"} {
		ns := byKey["kubernetes:core/v1:Namespace class-"+s]
		require.NotNil(t, ns.Inputs, s)
		assert.Equal(t, "student-"+s, ns.Inputs["metadata"].(map[string]any)["name"])
		// A zonal pool of at most 2 e2-standard-2 nodes, shared by 3 students.
		hard := byKey["kubernetes:core/v1:ResourceQuota class-"+s].Inputs["spec"].(map[string]any)["hard"].(map[string]any)
		assert.Equal(t, "933m", hard["requests.cpu"])
		assert.Equal(t, "3754Mi", hard["requests.memory"])
	}
	assert.Equal(t, stackfile.SecretPlaceholder, res.Outputs["studentKubeconfigs"], "kubeconfigs hold tokens: secret")
	assert.Equal(t, map[string]string{"alice": "student-alice", "bob": "student-bob", "chulsoo": "student-chulsoo"}, res.Outputs["studentNamespaces"])

	items := map[string]float64{}
	for _, item := range res.Cost.Items {
		items[item.What] = item.Monthly
	}
	assert.InDelta(t, 3.65, items["Cloud NAT external IP"], 0.001)
	assert.InDelta(t, -74.40, items["GKE free tier credit (if the billing account's only zonal or Autopilot cluster)"], 0.001)
	assert.Contains(t, items, "GKE nodes 1x1 e2-standard-2", "a zonal pool's minimum is minNodes, not three times it")
}

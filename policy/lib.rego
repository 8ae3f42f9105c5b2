# METADATA
# scope: package
# title: deploylab security guardrails
# description: >-
#   Rules for the resources deploylab creates on AWS and GCP. Resource rules (deny_*, warn_*) see one resource as
#   the pulumi-policy-opa analyzer shapes it: the properties on top plus __type, __name, __urn and __options.
#   Stack rules (stack_deny_*) see every resource of the stack in input.resources.
package deploylab

import rego.v1

# Helpers in this file are functions or complete rules on purpose: the analyzer evaluates every rule whose name
# starts with deny/violation/warn (and stack_ of those) and warns about other partial-set rules, so no helper is a
# partial set.

# The environment of a resource is its `env` tag (AWS) or label (GCP); deploylab puts env and owner on everything.
# dev and training relax the few rules that have a warn_* twin; prod and an unknown env get the deny_* version.
relaxed_envs := {"dev", "training"}

env_of(r) := env if {
	env := label_bag(r).env
	is_string(env)
}

relaxed(r) if env_of(r) in relaxed_envs

# label_bag returns the key/value labels of a resource: tags on AWS, resourceLabels on a GKE cluster,
# nodeConfig.resourceLabels on a node pool (nodeConfig.labels are Kubernetes node labels), labels elsewhere on
# GCP. Anything that is not an object (absent, null, unknown at preview) counts as no labels.
label_bag(r) := as_object(object.get(r, ["nodeConfig", "resourceLabels"], {})) if {
	r.__type == gke_node_pool
} else := as_object(object.get(r, "resourceLabels", {})) if {
	r.__type == gke_cluster
} else := as_object(object.get(r, "tags", {})) if {
	startswith(r.__type, "aws:")
} else := as_object(object.get(r, "labels", {}))

as_object(x) := x if is_object(x)

else := {}

# prop reads a property whose name collides with analyzer metadata (type, name): the top-level field is the
# property when it exists and the metadata otherwise, so read the untouched property bag.
prop(r, key) := object.get(r.__properties, key, "")

gke_cluster := "gcp:container/cluster:Cluster"

gke_node_pool := "gcp:container/nodePool:NodePool"

alb_types := {"aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer"}

listener_types := {"aws:lb/listener:Listener", "aws:alb/listener:Listener"}

target_group_types := {"aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup"}

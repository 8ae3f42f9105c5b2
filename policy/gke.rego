package deploylab

import rego.v1

# METADATA
# title: GKE legacy ABAC is off
# description: gcp:container/cluster:Cluster must not set enableLegacyAbac; RBAC alone decides who may do what.
# custom:
#   remediation: Remove enableLegacyAbac or set it to false.
deny_gke_legacy_abac contains msg if {
	input.__type == gke_cluster
	input.enableLegacyAbac == true
	msg := sprintf("GKE cluster %q enables legacy ABAC: set enableLegacyAbac = false", [input.__name])
}

# METADATA
# title: GKE nodes are private
# description: >-
#   The cluster must set privateClusterConfig.enablePrivateNodes = true (nodes get no public IP), and no node pool
#   may opt out with networkConfig.enablePrivateNodes = false.
# custom:
#   remediation: Set privateClusterConfig { enablePrivateNodes = true, masterIpv4CidrBlock = ... } and give nodes egress through Cloud NAT.
deny_gke_public_nodes contains msg if {
	public_nodes(input)
	msg := sprintf("%s %q gives nodes public IPs: enable private nodes (cluster privateClusterConfig.enablePrivateNodes = true, no node pool networkConfig.enablePrivateNodes = false)", [input.__type, input.__name])
}

public_nodes(r) if {
	r.__type == gke_cluster
	object.get(r, ["privateClusterConfig", "enablePrivateNodes"], false) != true
}

public_nodes(r) if {
	r.__type == gke_node_pool
	object.get(r, ["networkConfig", "enablePrivateNodes"], null) == false
}

# METADATA
# title: GKE control plane is restricted
# description: >-
#   The cluster must set masterAuthorizedNetworksConfig with at least one cidrBlocks entry, none of them 0.0.0.0/0
#   or ::/0, and must not set gcpPublicCidrsAccessEnabled (which admits every Google Cloud address).
# custom:
#   remediation: Set masterAuthorizedNetworksConfig.cidrBlocks to deploylab:adminCidrs and gcpPublicCidrsAccessEnabled = false.
deny_gke_master_networks_open contains msg if {
	input.__type == gke_cluster
	not master_restricted(input)
	msg := sprintf("GKE cluster %q control plane is not restricted: list deploylab:adminCidrs in masterAuthorizedNetworksConfig.cidrBlocks, none world-open", [input.__name])
}

master_restricted(r) if {
	config := r.masterAuthorizedNetworksConfig
	blocks := array_or_empty(object.get(config, "cidrBlocks", []))
	count(blocks) > 0
	every block in blocks {
		not object.get(block, "cidrBlock", "") in world_cidrs
	}
	object.get(config, "gcpPublicCidrsAccessEnabled", false) != true
}

# METADATA
# title: GKE Workload Identity is on
# description: >-
#   A Standard cluster must set workloadIdentityConfig.workloadPool (PROJECT.svc.id.goog) so pods get their own
#   Google identity instead of the node's. Autopilot always has it.
# custom:
#   remediation: Set workloadIdentityConfig { workloadPool = "<project>.svc.id.goog" }.
deny_gke_workload_identity_off contains msg if {
	input.__type == gke_cluster
	not autopilot(input)
	object.get(input, ["workloadIdentityConfig", "workloadPool"], "") in {"", null}
	msg := sprintf("GKE cluster %q has no Workload Identity: set workloadIdentityConfig.workloadPool", [input.__name])
}

autopilot(r) if r.enableAutopilot == true

# node_configs are the nodeConfig blocks that create nodes: a node pool's, and a Standard cluster's own when it
# keeps its default pool (removeDefaultNodePool not true). Autopilot manages nodes itself.
node_configs(r) := [as_object(object.get(r, "nodeConfig", {}))] if {
	r.__type == gke_node_pool
} else := [as_object(object.get(r, "nodeConfig", {}))] if {
	r.__type == gke_cluster
	not autopilot(r)
	object.get(r, "removeDefaultNodePool", false) != true
} else := []

# METADATA
# title: GKE nodes are shielded with secure boot
# description: >-
#   The cluster must not disable enableShieldedNodes, and every nodeConfig that creates nodes must set
#   shieldedInstanceConfig.enableSecureBoot = true (integrity monitoring is on by default).
# custom:
#   remediation: Keep enableShieldedNodes = true and set nodeConfig.shieldedInstanceConfig { enableSecureBoot = true, enableIntegrityMonitoring = true }.
deny_gke_shielded_nodes_off contains msg if {
	some problem in shielding_problems(input)
	msg := sprintf("%s %q %s", [input.__type, input.__name, problem])
}

shielding_problems(r) := {"sets enableShieldedNodes = false" |
	r.__type == gke_cluster
	r.enableShieldedNodes == false
} | {"has no secure boot: set nodeConfig.shieldedInstanceConfig.enableSecureBoot = true" |
	some config in node_configs(r)
	object.get(config, ["shieldedInstanceConfig", "enableSecureBoot"], false) != true
}

# METADATA
# title: GKE node metadata is GKE_METADATA
# description: >-
#   Every nodeConfig that creates nodes must set workloadMetadataConfig.mode = GKE_METADATA, the metadata server
#   that hides node credentials from pods and serves Workload Identity.
# custom:
#   remediation: Set nodeConfig.workloadMetadataConfig { mode = "GKE_METADATA" }.
deny_gke_node_metadata_exposed contains msg if {
	some config in node_configs(input)
	mode := object.get(config, ["workloadMetadataConfig", "mode"], "unset")
	mode != "GKE_METADATA"
	msg := sprintf("%s %q has workloadMetadataConfig.mode %v: set GKE_METADATA", [input.__type, input.__name, mode])
}

# METADATA
# title: GKE nodes use a dedicated service account
# description: >-
#   Every nodeConfig that creates nodes must name a dedicated, least-privilege service account. No serviceAccount,
#   "default" or PROJECT_NUMBER-compute@developer.gserviceaccount.com mean the Editor-role default compute account.
#   A value that is not yet known at preview (an output of the account resource) counts as dedicated.
# custom:
#   remediation: Create a gcp:serviceaccount/account:Account with roles/container.defaultNodeServiceAccount and set nodeConfig.serviceAccount to its email.
deny_gke_default_service_account contains msg if {
	some config in node_configs(input)
	account := object.get(config, "serviceAccount", "")
	default_compute_account(account)
	msg := sprintf("%s %q runs nodes as the default compute service account (%q): set nodeConfig.serviceAccount to a dedicated account", [input.__type, input.__name, account])
}

default_compute_account(account) if account in {"", "default", null}

default_compute_account(account) if endswith(account, "-compute@developer.gserviceaccount.com")

# METADATA
# title: GKE cluster is on a release channel
# description: gcp:container/cluster:Cluster must set releaseChannel.channel to RAPID, REGULAR or STABLE.
# custom:
#   remediation: Set releaseChannel { channel = "REGULAR" } (STABLE for prod if preferred).
deny_gke_no_release_channel contains msg if {
	input.__type == gke_cluster
	channel := object.get(input, ["releaseChannel", "channel"], "UNSPECIFIED")
	not channel in {"RAPID", "REGULAR", "STABLE", "EXTENDED"}
	msg := sprintf("GKE cluster %q has release channel %v: set releaseChannel.channel", [input.__name, channel])
}

# METADATA
# title: GKE node auto-repair and auto-upgrade stay on
# description: >-
#   A node pool must not set management.autoRepair or management.autoUpgrade to false (both default to true).
#   Denied in prod and in any stack without a dev/training env label.
# custom:
#   remediation: Remove management.autoRepair/autoUpgrade = false; pin a maintenance window instead of turning upgrades off.
deny_gke_node_management_off contains msg if {
	not relaxed(input)
	some msg in management_off(input)
}

# METADATA
# title: GKE node auto-repair and auto-upgrade stay on (dev/training)
# description: >-
#   The same check as deny_gke_node_management_off, advisory where the env label is dev or training, where a class
#   may freeze node versions for a few hours.
# custom:
#   remediation: Remove management.autoRepair/autoUpgrade = false; pin a maintenance window instead of turning upgrades off.
warn_gke_node_management_off contains msg if {
	relaxed(input)
	some msg in management_off(input)
}

management_off(r) := {msg |
	r.__type == gke_node_pool
	some knob in ["autoRepair", "autoUpgrade"]
	object.get(r, ["management", knob], true) == false
	msg := sprintf("GKE node pool %q sets management.%s = false: keep it on", [r.__name, knob])
}

# METADATA
# title: No Calico network policy on Dataplane V2
# description: >-
#   With datapathProvider ADVANCED_DATAPATH (Dataplane V2, Cilium) network policy is built in; enabling the Calico
#   networkPolicy add-on as well is rejected by GKE and a sign the two CNI choices were mixed.
# custom:
#   remediation: With ADVANCED_DATAPATH remove networkPolicy (or set enabled = false); use networkPolicy { enabled = true, provider = "CALICO" } only with the legacy datapath.
deny_gke_netpol_with_dataplane contains msg if {
	input.__type == gke_cluster
	input.datapathProvider == "ADVANCED_DATAPATH"
	object.get(input, ["networkPolicy", "enabled"], false) == true
	msg := sprintf("GKE cluster %q enables networkPolicy together with ADVANCED_DATAPATH: choose one CNI", [input.__name])
}

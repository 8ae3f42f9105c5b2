package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pack "github.com/deploylab/deploylab/policy"
)

// Type tokens the cases use.
const (
	tSG        = "aws:ec2/securityGroup:SecurityGroup"
	tSGRule    = "aws:ec2/securityGroupRule:SecurityGroupRule"
	tVPCIngr   = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
	tInstance  = "aws:ec2/instance:Instance"
	tVolume    = "aws:ebs/volume:Volume"
	tALB       = "aws:lb/loadBalancer:LoadBalancer"
	tListener  = "aws:lb/listener:Listener"
	tTG        = "aws:lb/targetGroup:TargetGroup"
	tECR       = "aws:ecr/repository:Repository"
	tSSM       = "aws:ssm/parameter:Parameter"
	tVPC       = "aws:ec2/vpc:Vpc"
	tCluster   = "gcp:container/cluster:Cluster"
	tNodePool  = "gcp:container/nodePool:NodePool"
	tPassword  = "random:index/randomPassword:RandomPassword"
	goodPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06"
)

// res builds a resource of a dev stack (or of stack env when props carry other tags) from a JSON property literal,
// so the values have exactly the types the mock engine records (float64 numbers, []any, map[string]any).
func res(typ, name, propsJSON string) Resource {
	var props map[string]any
	if err := json.Unmarshal([]byte(propsJSON), &props); err != nil {
		panic(fmt.Sprintf("bad test JSON for %s: %v", name, err))
	}
	return Resource{Type: typ, Name: name, URN: "urn:pulumi:dev::deploylab::" + typ + "::" + name, Properties: props}
}

func protect(r Resource) Resource {
	r.Protect = true
	return r
}

// Tag/label JSON fragments: dev and prod, and the GCP forms.
const (
	devTags   = `"tags": {"env": "dev", "owner": "team"}`
	prodTags  = `"tags": {"env": "prod", "owner": "team"}`
	trainTags = `"tags": {"env": "training", "owner": "class"}`
	devLabels = `"resourceLabels": {"env": "dev", "owner": "team"}`
)

// Correct resources; each case below starts from these and breaks one thing.
var (
	goodSG = res(tSG, "web", `{`+devTags+`, "ingress": [
		{"protocol": "tcp", "fromPort": 80, "toPort": 80, "cidrBlocks": ["0.0.0.0/0"], "ipv6CidrBlocks": ["::/0"]},
		{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]},
		{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["198.51.100.0/24"]}],
		"egress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}]}`)
	goodInstance = res(tInstance, "app", `{`+devTags+`, "instanceType": "t3.small",
		"metadataOptions": {"httpTokens": "required", "httpEndpoint": "enabled"},
		"rootBlockDevice": {"encrypted": true, "volumeSize": 20},
		"ebsBlockDevices": [{"deviceName": "/dev/sdf", "encrypted": true}]}`)
	goodCluster = res(tCluster, "gke", `{`+devLabels+`, "datapathProvider": "ADVANCED_DATAPATH",
		"removeDefaultNodePool": true, "initialNodeCount": 1,
		"privateClusterConfig": {"enablePrivateNodes": true, "masterIpv4CidrBlock": "172.16.0.0/28"},
		"masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "198.51.100.0/24", "displayName": "admin"}]},
		"workloadIdentityConfig": {"workloadPool": "my-project.svc.id.goog"},
		"releaseChannel": {"channel": "REGULAR"}}`)
	goodNodePool = res(tNodePool, "gke-nodes", `{"cluster": "gke", "management": {"autoRepair": true, "autoUpgrade": true},
		"nodeConfig": {"machineType": "e2-standard-2", "resourceLabels": {"env": "dev", "owner": "team"},
			"serviceAccount": "gke-nodes@my-project.iam.gserviceaccount.com",
			"shieldedInstanceConfig": {"enableSecureBoot": true, "enableIntegrityMonitoring": true},
			"workloadMetadataConfig": {"mode": "GKE_METADATA"}}}`)
)

// ruleCase is one rule's deliberately wrong inputs (each must make the rule fire, with a message naming the
// resource) and correct inputs (the rule must stay silent). Each entry of fire/silent is evaluated as a stack.
type ruleCase struct {
	rule   string
	fire   map[string][]Resource
	silent map[string][]Resource
}

func one(r ...Resource) []Resource { return r }

var ruleCases = []ruleCase{
	{
		rule: "deny_world_open_ingress",
		fire: map[string][]Resource{
			"inline SSH from 0.0.0.0/0": one(res(tSG, "ssh", `{`+devTags+`, "ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}]}`)),
			"inline Jenkins from ::/0":  one(res(tSG, "jenkins", `{`+devTags+`, "ingress": [{"protocol": "tcp", "fromPort": 8080, "toPort": 8080, "ipv6CidrBlocks": ["::/0"]}]}`)),
			"inline range 80-443":       one(res(tSG, "range", `{`+devTags+`, "ingress": [{"protocol": "tcp", "fromPort": 80, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}]}`)),
			"inline protocol -1":        one(res(tSG, "all", `{`+devTags+`, "ingress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}]}`)),
			"inline udp 443":            one(res(tSG, "quic", `{`+devTags+`, "ingress": [{"protocol": "udp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}]}`)),
			"rule ingress 3306":         one(res(tSGRule, "db", `{"type": "ingress", "protocol": "tcp", "fromPort": 3306, "toPort": 3306, "cidrBlocks": ["0.0.0.0/0"], "securityGroupId": "sg-1"}`)),
			"rule ingress ssh ipv6":     one(res(tSGRule, "ssh6", `{"type": "ingress", "protocol": "6", "fromPort": 22, "toPort": 22, "ipv6CidrBlocks": ["::/0"], "securityGroupId": "sg-1"}`)),
			"vpc rule 8080 cidrIpv4":    one(res(tVPCIngr, "jenkins-v4", `{`+devTags+`, "ipProtocol": "tcp", "fromPort": 8080, "toPort": 8080, "cidrIpv4": "0.0.0.0/0", "securityGroupId": "sg-1"}`)),
			"vpc rule all cidrIpv6":     one(res(tVPCIngr, "all-v6", `{`+devTags+`, "ipProtocol": "-1", "cidrIpv6": "::/0", "securityGroupId": "sg-1"}`)),
		},
		silent: map[string][]Resource{
			"80/443 world, 22 admin": one(goodSG),
			"rule egress all":        one(res(tSGRule, "out", `{"type": "egress", "protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"], "securityGroupId": "sg-1"}`)),
			"rule ssh from admin":    one(res(tSGRule, "ssh", `{"type": "ingress", "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["198.51.100.0/24"], "securityGroupId": "sg-1"}`)),
			"vpc rule 443 world":     one(res(tVPCIngr, "https", `{`+devTags+`, "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "0.0.0.0/0", "securityGroupId": "sg-1"}`)),
			"vpc rule 22 admin":      one(res(tVPCIngr, "ssh", `{`+devTags+`, "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "198.51.100.7/32", "securityGroupId": "sg-1"}`)),
		},
	},
	{
		rule: "deny_instance_imds_tokens_optional",
		fire: map[string][]Resource{
			"no metadataOptions": one(res(tInstance, "app", `{`+devTags+`, "rootBlockDevice": {"encrypted": true}}`)),
			"optional":           one(res(tInstance, "app", `{`+devTags+`, "metadataOptions": {"httpTokens": "optional"}, "rootBlockDevice": {"encrypted": true}}`)),
		},
		silent: map[string][]Resource{"required": one(goodInstance)},
	},
	{
		rule: "deny_instance_unencrypted_root",
		fire: map[string][]Resource{
			"no rootBlockDevice": one(res(tInstance, "app", `{`+devTags+`, "metadataOptions": {"httpTokens": "required"}}`)),
			"encrypted false":    one(res(tInstance, "app", `{`+devTags+`, "metadataOptions": {"httpTokens": "required"}, "rootBlockDevice": {"encrypted": false}}`)),
		},
		silent: map[string][]Resource{"encrypted": one(goodInstance)},
	},
	{
		rule: "deny_ebs_unencrypted",
		fire: map[string][]Resource{
			"volume":            one(res(tVolume, "data", `{`+devTags+`, "size": 20, "availabilityZone": "eu-central-1a"}`)),
			"instance ebs disk": one(res(tInstance, "app", `{`+devTags+`, "ebsBlockDevices": [{"deviceName": "/dev/sdf", "encrypted": false}]}`)),
		},
		silent: map[string][]Resource{
			"volume encrypted": one(res(tVolume, "data", `{`+devTags+`, "size": 20, "encrypted": true}`)),
			"instance":         one(goodInstance),
		},
	},
	{
		rule: "deny_alb_keeps_invalid_headers",
		fire: map[string][]Resource{
			"unset": one(res(tALB, "alb", `{`+devTags+`, "loadBalancerType": "application"}`)),
			"false": one(res("aws:alb/loadBalancer:LoadBalancer", "alb", `{`+devTags+`, "dropInvalidHeaderFields": false}`)),
		},
		silent: map[string][]Resource{
			"true":                    one(res(tALB, "alb", `{`+devTags+`, "loadBalancerType": "application", "dropInvalidHeaderFields": true}`)),
			"network LB has no field": one(res(tALB, "nlb", `{`+devTags+`, "loadBalancerType": "network"}`)),
		},
	},
	{
		rule: "deny_listener_weak_tls",
		fire: map[string][]Resource{
			"HTTPS default policy": one(res(tListener, "https", `{`+devTags+`, "protocol": "HTTPS", "port": 443, "certificateArn": "arn:aws:acm:eu-central-1:1:certificate/x"}`)),
			"HTTPS 2016-08":        one(res(tListener, "https", `{`+devTags+`, "protocol": "HTTPS", "port": 443, "sslPolicy": "ELBSecurityPolicy-2016-08"}`)),
			"HTTPS TLS 1.2 only":   one(res(tListener, "https", `{`+devTags+`, "protocol": "HTTPS", "port": 443, "sslPolicy": "ELBSecurityPolicy-TLS-1-2-2017-01"}`)),
			"Ext suites":           one(res(tListener, "https", `{`+devTags+`, "protocol": "HTTPS", "port": 443, "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06"}`)),
		},
		silent: map[string][]Resource{
			"TLS13":         one(res(tListener, "https", `{`+devTags+`, "protocol": "HTTPS", "port": 443, "sslPolicy": "`+goodPolicy+`"}`)),
			"HTTP redirect": one(res(tListener, "http", `{`+devTags+`, "protocol": "HTTP", "port": 80, "defaultActions": [{"type": "redirect"}]}`)),
		},
	},
	{
		rule: "deny_target_group_no_health_check",
		fire: map[string][]Resource{
			"none":     one(res(tTG, "blue", `{`+devTags+`, "port": 8081, "protocol": "HTTP"}`)),
			"disabled": one(res(tTG, "blue", `{`+devTags+`, "port": 8081, "protocol": "HTTP", "healthCheck": {"enabled": false, "path": "/health"}}`)),
			"no path":  one(res(tTG, "blue", `{`+devTags+`, "port": 8081, "protocol": "HTTP", "healthCheck": {"enabled": true}}`)),
		},
		silent: map[string][]Resource{
			"HTTP with path": one(res(tTG, "blue", `{`+devTags+`, "port": 8081, "protocol": "HTTP", "healthCheck": {"enabled": true, "path": "/actuator/health", "matcher": "200"}}`)),
			"TCP check":      one(res(tTG, "tcp", `{`+devTags+`, "port": 22, "protocol": "TCP", "healthCheck": {"protocol": "TCP"}}`)),
		},
	},
	{
		rule: "stack_deny_http_listener_forwards",
		fire: map[string][]Resource{
			"HTTPS listener exists": one(
				res(tListener, "https", `{`+devTags+`, "protocol": "HTTPS", "sslPolicy": "`+goodPolicy+`", "defaultActions": [{"type": "forward"}]}`),
				res(tListener, "http", `{`+devTags+`, "protocol": "HTTP", "port": 80, "defaultActions": [{"type": "forward", "targetGroupArn": "tg"}]}`)),
			"ACM certificate exists": one(
				res("aws:acm/certificate:Certificate", "cert", `{`+devTags+`, "domainName": "app.example.com"}`),
				res(tListener, "http", `{`+devTags+`, "protocol": "HTTP", "defaultActions": [{"type": "forward"}]}`)),
		},
		silent: map[string][]Resource{
			"HTTP redirects": one(
				res(tListener, "https", `{`+devTags+`, "protocol": "HTTPS", "sslPolicy": "`+goodPolicy+`", "defaultActions": [{"type": "forward"}]}`),
				res(tListener, "http", `{`+devTags+`, "protocol": "HTTP", "defaultActions": [{"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}]}`)),
			"no TLS in the stack": one(res(tListener, "http", `{`+devTags+`, "protocol": "HTTP", "defaultActions": [{"type": "forward"}]}`)),
		},
	},
	{
		rule: "deny_ecr_scan_on_push_off",
		fire: map[string][]Resource{
			"unset": one(res(tECR, "app", `{`+devTags+`, "imageTagMutability": "IMMUTABLE"}`)),
			"false": one(res(tECR, "app", `{`+devTags+`, "imageTagMutability": "IMMUTABLE", "imageScanningConfiguration": {"scanOnPush": false}}`)),
		},
		silent: map[string][]Resource{"on": one(res(tECR, "app", `{`+devTags+`, "imageScanningConfiguration": {"scanOnPush": true}}`))},
	},
	{
		rule: "deny_ecr_mutable_tags",
		fire: map[string][]Resource{
			"prod default": one(res(tECR, "app", `{`+prodTags+`, "imageScanningConfiguration": {"scanOnPush": true}}`)),
			"no env tag":   one(res(tECR, "app", `{"imageTagMutability": "MUTABLE"}`)),
		},
		silent: map[string][]Resource{
			"prod immutable":   one(res(tECR, "app", `{`+prodTags+`, "imageTagMutability": "IMMUTABLE"}`)),
			"dev is only warn": one(res(tECR, "app", `{`+devTags+`, "imageTagMutability": "MUTABLE"}`)),
		},
	},
	{
		rule: "warn_ecr_mutable_tags",
		fire: map[string][]Resource{
			"dev":      one(res(tECR, "app", `{`+devTags+`, "imageTagMutability": "MUTABLE"}`)),
			"training": one(res(tECR, "app", `{`+trainTags+`}`)),
		},
		silent: map[string][]Resource{
			"dev immutable":  one(res(tECR, "app", `{`+devTags+`, "imageTagMutability": "IMMUTABLE"}`)),
			"prod is a deny": one(res(tECR, "app", `{`+prodTags+`, "imageTagMutability": "MUTABLE"}`)),
		},
	},
	{
		rule: "deny_ssm_secret_not_secure",
		fire: map[string][]Resource{
			"password String":        one(res(tSSM, "jenkins-admin", `{`+devTags+`, "name": "/deploylab/dev/jenkins/admin-password", "type": "String", "value": "[secret]"}`)),
			"resource name says key": one(res(tSSM, "deploy-ssh-key", `{`+devTags+`, "type": "StringList", "value": "[secret]"}`)),
			"description says token": one(res(tSSM, "ci", `{`+devTags+`, "name": "/deploylab/dev/ci", "description": "GitHub token", "type": "String"}`)),
		},
		silent: map[string][]Resource{
			"SecureString":   one(res(tSSM, "jenkins-admin", `{`+devTags+`, "name": "/deploylab/dev/jenkins/admin-password", "type": "SecureString", "value": "[secret]"}`)),
			"not secret-ish": one(res(tSSM, "app-port", `{`+devTags+`, "name": "/deploylab/dev/app/port", "type": "String", "value": "8080"}`)),
		},
	},
	{
		rule:   "deny_gke_legacy_abac",
		fire:   map[string][]Resource{"on": one(with(goodCluster, `{"enableLegacyAbac": true}`))},
		silent: map[string][]Resource{"off": one(with(goodCluster, `{"enableLegacyAbac": false}`)), "unset": one(goodCluster)},
	},
	{
		rule: "deny_gke_public_nodes",
		fire: map[string][]Resource{
			"no privateClusterConfig":  one(with(goodCluster, `{"privateClusterConfig": null}`)),
			"enablePrivateNodes false": one(with(goodCluster, `{"privateClusterConfig": {"enablePrivateNodes": false}}`)),
			"node pool opts out":       one(with(goodNodePool, `{"networkConfig": {"enablePrivateNodes": false}}`)),
		},
		silent: map[string][]Resource{"private": one(goodCluster, goodNodePool)},
	},
	{
		rule: "deny_gke_master_networks_open",
		fire: map[string][]Resource{
			"none":           one(with(goodCluster, `{"masterAuthorizedNetworksConfig": null}`)),
			"no blocks":      one(with(goodCluster, `{"masterAuthorizedNetworksConfig": {}}`)),
			"0.0.0.0/0":      one(with(goodCluster, `{"masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "198.51.100.0/24"}, {"cidrBlock": "0.0.0.0/0"}]}}`)),
			"GCP public IPs": one(with(goodCluster, `{"masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "198.51.100.0/24"}], "gcpPublicCidrsAccessEnabled": true}}`)),
		},
		silent: map[string][]Resource{"admin CIDRs": one(goodCluster)},
	},
	{
		rule: "deny_gke_workload_identity_off",
		fire: map[string][]Resource{
			"none":       one(with(goodCluster, `{"workloadIdentityConfig": null}`)),
			"empty pool": one(with(goodCluster, `{"workloadIdentityConfig": {"workloadPool": ""}}`)),
		},
		silent: map[string][]Resource{
			"pool set":  one(goodCluster),
			"autopilot": one(with(goodCluster, `{"enableAutopilot": true, "workloadIdentityConfig": null}`)),
		},
	},
	{
		rule: "deny_gke_shielded_nodes_off",
		fire: map[string][]Resource{
			"cluster disables":           one(with(goodCluster, `{"enableShieldedNodes": false}`)),
			"pool without secure boot":   one(with(goodNodePool, `{"nodeConfig": {"resourceLabels": {"env": "dev", "owner": "team"}, "serviceAccount": "n@p.iam.gserviceaccount.com", "workloadMetadataConfig": {"mode": "GKE_METADATA"}}}`)),
			"default pool kept, no boot": one(with(goodCluster, `{"removeDefaultNodePool": false}`)),
		},
		silent: map[string][]Resource{
			"secure boot":          one(goodCluster, goodNodePool),
			"autopilot keeps pool": one(with(goodCluster, `{"enableAutopilot": true, "removeDefaultNodePool": null}`)),
		},
	},
	{
		rule: "deny_gke_node_metadata_exposed",
		fire: map[string][]Resource{
			"GCE_METADATA": one(with(goodNodePool, `{"nodeConfig": {"resourceLabels": {"env": "dev", "owner": "team"}, "workloadMetadataConfig": {"mode": "GCE_METADATA"}}}`)),
			"unset":        one(with(goodNodePool, `{"nodeConfig": {"resourceLabels": {"env": "dev", "owner": "team"}}}`)),
		},
		silent: map[string][]Resource{"GKE_METADATA": one(goodNodePool)},
	},
	{
		rule: "deny_gke_default_service_account",
		fire: map[string][]Resource{
			"none":                 one(with(goodNodePool, `{"nodeConfig": {"resourceLabels": {"env": "dev", "owner": "team"}}}`)),
			"default":              one(with(goodNodePool, `{"nodeConfig": {"resourceLabels": {"env": "dev", "owner": "team"}, "serviceAccount": "default"}}`)),
			"compute default":      one(with(goodNodePool, `{"nodeConfig": {"resourceLabels": {"env": "dev", "owner": "team"}, "serviceAccount": "123456-compute@developer.gserviceaccount.com"}}`)),
			"cluster default pool": one(with(goodCluster, `{"removeDefaultNodePool": false, "nodeConfig": {"shieldedInstanceConfig": {"enableSecureBoot": true}}}`)),
		},
		silent: map[string][]Resource{"dedicated": one(goodNodePool, goodCluster)},
	},
	{
		rule: "deny_gke_no_release_channel",
		fire: map[string][]Resource{
			"none":        one(with(goodCluster, `{"releaseChannel": null}`)),
			"UNSPECIFIED": one(with(goodCluster, `{"releaseChannel": {"channel": "UNSPECIFIED"}}`)),
		},
		silent: map[string][]Resource{"REGULAR": one(goodCluster)},
	},
	{
		rule: "deny_gke_node_management_off",
		fire: map[string][]Resource{
			"prod autoUpgrade off": one(prodPool(`{"management": {"autoRepair": true, "autoUpgrade": false}}`)),
			"prod autoRepair off":  one(prodPool(`{"management": {"autoRepair": false}}`)),
		},
		silent: map[string][]Resource{
			"prod defaults":    one(prodPool(`{"management": null}`)),
			"dev is only warn": one(with(goodNodePool, `{"management": {"autoUpgrade": false}}`)),
		},
	},
	{
		rule: "warn_gke_node_management_off",
		fire: map[string][]Resource{"dev autoUpgrade off": one(with(goodNodePool, `{"management": {"autoUpgrade": false}}`))},
		silent: map[string][]Resource{
			"dev on":         one(goodNodePool),
			"prod is a deny": one(prodPool(`{"management": {"autoUpgrade": false}}`)),
		},
	},
	{
		rule: "deny_gke_netpol_with_dataplane",
		fire: map[string][]Resource{"calico on dataplane v2": one(with(goodCluster, `{"networkPolicy": {"enabled": true, "provider": "CALICO"}}`))},
		silent: map[string][]Resource{
			"dataplane v2 alone":      one(goodCluster),
			"calico, legacy datapath": one(with(goodCluster, `{"datapathProvider": "LEGACY_DATAPATH", "networkPolicy": {"enabled": true, "provider": "CALICO"}}`)),
		},
	},
	{
		rule: "stack_deny_missing_env_owner",
		fire: map[string][]Resource{
			"listed type without tags":  one(res(tVPC, "vpc", `{"cidrBlock": "10.0.0.0/16"}`)),
			"owner missing":             one(res(tVPC, "vpc", `{"tags": {"env": "dev"}}`)),
			"GKE cluster without owner": one(with(goodCluster, `{"resourceLabels": {"env": "dev"}}`)),
			"node pool without labels":  one(with(goodNodePool, `{"nodeConfig": {"serviceAccount": "n@p.iam.gserviceaccount.com"}}`)),
			"unlisted type with tags":   one(res("aws:sns/topic:Topic", "alerts", `{"tags": {"owner": "team"}}`)),
			"empty env":                 one(res(tVPC, "vpc", `{"tags": {"env": "", "owner": "team"}}`)),
		},
		silent: map[string][]Resource{
			"tagged":          one(goodSG, goodInstance, goodCluster, goodNodePool),
			"untaggable type": one(res(tPassword, "admin", `{"length": 24}`), res(tSGRule, "ssh", `{"type": "ingress"}`)),
		},
	},
	{
		rule: "stack_deny_prod_unprotected",
		fire: map[string][]Resource{
			"ECR":                            one(res(tECR, "app", `{`+prodTags+`}`)),
			"volume without its own env tag": one(protect(res(tVPC, "vpc", `{`+prodTags+`}`)), res(tVolume, "data", `{"encrypted": true}`)),
			"GKE cluster":                    one(with(goodCluster, `{"resourceLabels": {"env": "prod", "owner": "team"}}`)),
		},
		silent: map[string][]Resource{
			"protected":    one(protect(res(tECR, "app", `{`+prodTags+`}`)), protect(res(tALB, "alb", `{`+prodTags+`}`))),
			"dev":          one(res(tECR, "app", `{`+devTags+`}`)),
			"not stateful": one(res(tSG, "web", `{`+prodTags+`}`)),
		},
	},
}

// with returns r with the top-level properties of patchJSON replaced (null removes one).
func with(r Resource, patchJSON string) Resource {
	var patch map[string]any
	if err := json.Unmarshal([]byte(patchJSON), &patch); err != nil {
		panic(fmt.Sprintf("bad patch JSON for %s: %v", r.Name, err))
	}
	props := map[string]any{}
	for k, v := range r.Properties {
		props[k] = v
	}
	for k, v := range patch {
		if v == nil {
			delete(props, k)
			continue
		}
		props[k] = v
	}
	r.Properties = props
	return r
}

func prodPool(patchJSON string) Resource {
	pool := with(goodNodePool, patchJSON)
	config := map[string]any{}
	for k, v := range pool.Properties["nodeConfig"].(map[string]any) {
		config[k] = v
	}
	config["resourceLabels"] = map[string]any{"env": "prod", "owner": "team"}
	pool.Properties["nodeConfig"] = config
	return pool
}

func findingsOf(fs []Finding, rule string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Policy == rule {
			out = append(out, f)
		}
	}
	return out
}

func TestRules_FireOnWrongInputAndStaySilentOnCorrectInput(t *testing.T) {
	t.Parallel()
	rules, err := Rules()
	require.NoError(t, err)
	levels := map[string]string{}
	for _, r := range rules {
		levels[r.Name] = r.Level
	}
	for _, tc := range ruleCases {
		require.Contains(t, levels, tc.rule, "case for a rule the pack does not have")
		for name, resources := range tc.fire {
			t.Run(tc.rule+"/fires/"+name, func(t *testing.T) {
				t.Parallel()
				fs, err := Evaluate(context.Background(), resources)
				require.NoError(t, err)
				got := findingsOf(fs, tc.rule)
				require.NotEmpty(t, got, "all findings: %+v", fs)
				names := map[string]bool{}
				for _, r := range resources {
					names[r.Name] = true
				}
				for _, f := range got {
					assert.Equal(t, levels[tc.rule], f.Level)
					assert.True(t, messageNamesOneOf(f.Message, names), "message %q names none of %v", f.Message, names)
				}
			})
		}
		for name, resources := range tc.silent {
			t.Run(tc.rule+"/silent/"+name, func(t *testing.T) {
				t.Parallel()
				fs, err := Evaluate(context.Background(), resources)
				require.NoError(t, err)
				assert.Empty(t, findingsOf(fs, tc.rule))
			})
		}
	}
}

func messageNamesOneOf(msg string, names map[string]bool) bool {
	for n := range names {
		if strings.Contains(msg, fmt.Sprintf("%q", n)) {
			return true
		}
	}
	return false
}

func TestRules_EveryRuleHasFiringAndSilentCases(t *testing.T) {
	t.Parallel()
	rules, err := Rules()
	require.NoError(t, err)
	covered := map[string]ruleCase{}
	for _, tc := range ruleCases {
		covered[tc.rule] = tc
	}
	for _, r := range rules {
		tc, ok := covered[r.Name]
		if assert.True(t, ok, "rule %s has no test case", r.Name) {
			assert.NotEmpty(t, tc.fire, "rule %s has no firing case", r.Name)
			assert.NotEmpty(t, tc.silent, "rule %s has no silent case", r.Name)
		}
	}
	assert.Len(t, covered, len(ruleCases), "two cases for one rule")
}

func TestRules_HaveMetadata(t *testing.T) {
	t.Parallel()
	rules, err := Rules()
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(rules), 20)
	for _, r := range rules {
		assert.NotEmpty(t, r.Title, "%s: METADATA title", r.Name)
		assert.NotEmpty(t, r.Description, "%s: METADATA description", r.Name)
		assert.NotEmpty(t, r.Remediation, "%s: METADATA custom.remediation", r.Name)
	}
}

// A clean stack of every kind of resource deploylab creates produces no finding at all, in prod too.
func TestEvaluate_CleanStackHasNoFindings(t *testing.T) {
	t.Parallel()
	prodify := func(r Resource) Resource {
		r = with(r, `{}`)
		r.URN = strings.Replace(r.URN, "urn:pulumi:dev::", "urn:pulumi:prod::", 1)
		if tags, ok := r.Properties["tags"]; ok && tags != nil {
			r.Properties["tags"] = map[string]any{"env": "prod", "owner": "team"}
		}
		if _, ok := r.Properties["resourceLabels"]; ok {
			r.Properties["resourceLabels"] = map[string]any{"env": "prod", "owner": "team"}
		}
		return r
	}
	stack := []Resource{
		goodSG, goodInstance, goodCluster, goodNodePool,
		res(tVolume, "data", `{`+devTags+`, "encrypted": true}`),
		res(tALB, "alb", `{`+devTags+`, "dropInvalidHeaderFields": true}`),
		res(tListener, "https", `{`+devTags+`, "protocol": "HTTPS", "sslPolicy": "`+goodPolicy+`", "defaultActions": [{"type": "forward"}]}`),
		res(tListener, "http", `{`+devTags+`, "protocol": "HTTP", "defaultActions": [{"type": "redirect"}]}`),
		res(tTG, "blue", `{`+devTags+`, "protocol": "HTTP", "healthCheck": {"path": "/actuator/health"}}`),
		res(tECR, "app", `{`+devTags+`, "imageTagMutability": "IMMUTABLE", "imageScanningConfiguration": {"scanOnPush": true}}`),
		res(tSSM, "admin-password", `{`+devTags+`, "type": "SecureString", "value": "[secret]"}`),
		res(tPassword, "admin", `{"length": 24}`),
		{Type: "deploylab:index:AppHost", Name: "app", URN: "urn:pulumi:dev::deploylab::deploylab:index:AppHost::app"},
	}
	fs, err := Evaluate(context.Background(), stack)
	require.NoError(t, err)
	assert.Empty(t, fs)

	var prod []Resource
	for _, r := range stack {
		r = prodify(r)
		if r.Type == tVolume || r.Type == tALB || r.Type == tECR || r.Type == tCluster {
			r.Protect = true
		}
		prod = append(prod, r)
	}
	fs, err = Evaluate(context.Background(), prod)
	require.NoError(t, err)
	assert.Empty(t, fs)
}

func TestEvaluate_FindingsSortedAndStackFindingsOnRootStack(t *testing.T) {
	t.Parallel()
	fs, err := Evaluate(context.Background(), []Resource{
		res(tECR, "b", `{`+devTags+`}`),
		res(tVPC, "a", `{}`),
	})
	require.NoError(t, err)
	var got []string
	for _, f := range fs {
		got = append(got, f.Level+" "+f.Policy+" "+f.Name)
	}
	assert.Equal(t, []string{
		"deny deny_ecr_scan_on_push_off b",
		"deny stack_deny_missing_env_owner deploylab-dev",
		"deny stack_deny_missing_env_owner deploylab-dev",
		"warn warn_ecr_mutable_tags b",
	}, got)
	stack := findingsOf(fs, "stack_deny_missing_env_owner")
	assert.Equal(t, "urn:pulumi:dev::deploylab::pulumi:pulumi:Stack::deploylab-dev", stack[0].URN)
	assert.Equal(t, "pulumi:pulumi:Stack", stack[0].Type)
	assert.Contains(t, stack[0].Message, `"a"`)
}

func TestEvaluate_RejectsBadResources(t *testing.T) {
	t.Parallel()
	_, err := Evaluate(context.Background(), []Resource{
		{Name: "x"},
		{Type: tVPC},
		{Type: tVPC, Name: "y", URN: "not-a-urn"},
	})
	require.Error(t, err)
	for _, want := range []string{`resources[0] (name "x"): Type is empty`, `resources[1] (type "aws:ec2/vpc:Vpc"): Name is empty`, `URN "not-a-urn" is not a Pulumi URN`} {
		assert.Contains(t, err.Error(), want)
	}
}

// The input is shaped as pulumi-policy-opa's buildOPAInput: a property named type or name wins the top-level
// field, __type/__name/__urn/__options/__properties always hold the metadata.
func TestShape_MatchesAnalyzer(t *testing.T) {
	t.Parallel()
	r := protect(res(tSSM, "p", `{"type": "String", "name": "/x", "value": "v"}`))
	in := shape(r)
	assert.Equal(t, "String", in["type"])
	assert.Equal(t, "/x", in["name"])
	assert.Equal(t, tSSM, in["__type"])
	assert.Equal(t, "p", in["__name"])
	assert.Equal(t, r.URN, in["__urn"])
	assert.Equal(t, r.URN, in["urn"])
	assert.Equal(t, "v", in["value"])
	assert.Equal(t, r.Properties, in["__properties"])
	assert.Equal(t, r.Properties, in["properties"])
	assert.Equal(t, true, in["__options"].(map[string]any)["protect"])
	assert.Equal(t, map[string]any{}, in["__provider"])

	plain := shape(Resource{Type: tVPC, Name: "v"})
	assert.Equal(t, tVPC, plain["type"], "without a type property the metadata shows through")
	assert.Equal(t, "v", plain["name"])
}

// The analyzer parses the pack as Rego v0 (rego.v1 imports make the v1 syntax valid there), requires one package,
// and warns about duplicate policy bodies and about helper partial sets; the pack must load there cleanly.
func TestPack_LoadsCleanlyInTheAnalyzer(t *testing.T) {
	t.Parallel()
	names, err := fsGlob()
	require.NoError(t, err)
	sources := map[string]string{}
	for _, n := range names {
		b, err := pack.Files.ReadFile(n)
		require.NoError(t, err)
		sources[n] = string(b)
	}
	compiler, err := ast.CompileModulesWithOpt(sources, ast.CompileOpts{ParserOptions: ast.ParserOptions{RegoVersion: ast.RegoV0, ProcessAnnotation: true}})
	require.NoError(t, err)
	seen := map[string]string{}
	pkgs := map[string]bool{}
	for file, m := range compiler.Modules {
		pkgs[m.Package.String()] = true
		for _, r := range m.Rules {
			name := r.Head.Name.String()
			if _, _, ok := classify(name); ok {
				// Analyzers before the stack-rule release matched (_[a-zA-Z]+)*: no digits keeps every release happy.
				assert.Regexp(t, `^[a-z_]+$`, name)
				assert.NotContains(t, seen, name, "policy %s has several bodies (%s and %s): the analyzer warns", name, seen[name], file)
				seen[name] = file
				assert.NotEmpty(t, r.Annotations, "policy %s: METADATA must sit on its only body", name)
				continue
			}
			if strings.HasPrefix(name, "test_") {
				continue
			}
			assert.False(t, r.Head.Key != nil && len(r.Head.Args) == 0, "helper %s in %s is a partial set: the analyzer warns it is an unrecognised rule", name, file)
		}
	}
	assert.Equal(t, map[string]bool{"package deploylab": true}, pkgs)
	// The analyzer reads only strings from a rule; METADATA custom.message is its policy message and stays unused.
	assert.Regexp(t, regexp.MustCompile(`(?m)^runtime: opa$`), string(mustRead(t, "PulumiPolicy.yaml")))
}

func fsGlob() ([]string, error) {
	entries, err := pack.Files.ReadDir(".")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".rego") {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := pack.Files.ReadFile(name)
	require.NoError(t, err)
	return b
}

// The Rego unit tests (policy/*_test.rego, `opa test policy` style) run here so `go test` covers them.
func TestRegoUnitTests(t *testing.T) {
	t.Parallel()
	modules, err := parseModules(pack.Files)
	require.NoError(t, err)
	ch, err := tester.NewRunner().SetModules(modules).Run(context.Background(), modules)
	require.NoError(t, err)
	n := 0
	for r := range ch {
		n++
		assert.True(t, r.Pass(), "%s.%s: %s (fail=%v err=%v)", r.Package, r.Name, r.Location, r.Fail, r.Error)
	}
	assert.GreaterOrEqual(t, n, 10, "Rego unit tests found")
}

func BenchmarkEvaluate(b *testing.B) {
	var stack []Resource
	for _, tc := range ruleCases {
		for _, rs := range tc.fire {
			stack = append(stack, rs...)
		}
	}
	for b.Loop() {
		if _, err := Evaluate(context.Background(), stack); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(stack)), "resources")
}

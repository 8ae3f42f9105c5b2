package deploylab

import rego.v1

# METADATA
# title: Every taggable resource carries env and owner
# description: >-
#   Stack rule. A resource "takes tags" when its type is in labelled_types (the taggable types deploylab creates,
#   so a forgotten tags block is caught) or when it has a tags, labels or resourceLabels property at all. It must
#   carry non-empty env and owner: in tags on AWS, labels on GCP (resourceLabels on a GKE cluster,
#   nodeConfig.resourceLabels on a node pool). The reaper, cost reports and the env-dependent rules read them.
# custom:
#   remediation: >-
#     Pass infra.Tags(config) (AWS) or the labels map (GCP) to the resource; never use provider default tags, which
#     preview and this pack cannot see.
stack_deny_missing_env_owner contains msg if {
	some r in input.resources
	takes_labels(r)
	some key in ["env", "owner"]
	object.get(label_bag(r), key, "") in {"", null}
	msg := sprintf("%s %q has no %q %s: every taggable resource carries env and owner", [r.__type, r.__name, key, label_word(r)])
}

labelled_types := {
	"aws:ec2/vpc:Vpc",
	"aws:ec2/subnet:Subnet",
	"aws:ec2/internetGateway:InternetGateway",
	"aws:ec2/routeTable:RouteTable",
	"aws:ec2/securityGroup:SecurityGroup",
	"aws:ec2/instance:Instance",
	"aws:ec2/eip:Eip",
	"aws:ec2/keyPair:KeyPair",
	"aws:ebs/volume:Volume",
	"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
	"aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
	"aws:lb/loadBalancer:LoadBalancer",
	"aws:lb/listener:Listener",
	"aws:lb/targetGroup:TargetGroup",
	"aws:alb/loadBalancer:LoadBalancer",
	"aws:alb/listener:Listener",
	"aws:alb/targetGroup:TargetGroup",
	"aws:acm/certificate:Certificate",
	"aws:ecr/repository:Repository",
	"aws:ssm/parameter:Parameter",
	"aws:iam/role:Role",
	"aws:iam/instanceProfile:InstanceProfile",
	"aws:iam/policy:Policy",
	"aws:cloudwatch/logGroup:LogGroup",
	"gcp:container/cluster:Cluster",
	"gcp:container/nodePool:NodePool",
	"gcp:compute/instance:Instance",
}

takes_labels(r) if r.__type in labelled_types

takes_labels(r) if {
	some key in ["tags", "labels", "resourceLabels"]
	object.get(r, key, null) != null
}

label_word(r) := "tag" if startswith(r.__type, "aws:")

else := "label"

# METADATA
# title: Stateful resources are protected in prod
# description: >-
#   Stack rule. When any resource of the stack has env = prod, every stateful resource (EBS volumes, ECR
#   repositories, the GKE cluster, the ALB whose DNS name users reach) must have the Pulumi protect option, which
#   the analyzer exposes as __options.protect. The stack-wide env means a resource missing its own env tag is still
#   covered.
# custom:
#   remediation: Create the resource with pulumi.Protect(true) when deploylab:env is prod; unprotect explicitly before a planned replacement.
stack_deny_prod_unprotected contains msg if {
	prod_stack
	some r in input.resources
	r.__type in stateful_types
	object.get(r, ["__options", "protect"], false) != true
	msg := sprintf("%s %q is stateful and not protected in a prod stack: set pulumi.Protect(true)", [r.__type, r.__name])
}

prod_stack if {
	some r in input.resources
	env_of(r) == "prod"
}

stateful_types := {
	"aws:ebs/volume:Volume",
	"aws:ecr/repository:Repository",
	"gcp:container/cluster:Cluster",
	"aws:lb/loadBalancer:LoadBalancer",
	"aws:alb/loadBalancer:LoadBalancer",
}

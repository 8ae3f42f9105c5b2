package deploylab

import rego.v1

# Unit tests of the helpers the rules share (`opa test policy` runs them; so does go test ./internal/policy/).
# The per-rule firing/silent cases live in internal/policy, on inputs shaped exactly as the analyzer shapes them.

test_world_ingress_normalises_all_three_forms if {
	inline := {"__type": "aws:ec2/securityGroup:SecurityGroup", "ingress": [{"protocol": "TCP", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/8", "0.0.0.0/0"], "ipv6CidrBlocks": ["::/0"]}]}
	world_ingress(inline) == {
		{"cidr": "0.0.0.0/0", "protocol": "tcp", "from": 22, "to": 22},
		{"cidr": "::/0", "protocol": "tcp", "from": 22, "to": 22},
	}
	rule := {"__type": "aws:ec2/securityGroupRule:SecurityGroupRule", "__properties": {"type": "ingress"}, "protocol": "tcp", "fromPort": 8080, "toPort": 8080, "cidrBlocks": ["0.0.0.0/0"]}
	world_ingress(rule) == {{"cidr": "0.0.0.0/0", "protocol": "tcp", "from": 8080, "to": 8080}}
	vpc := {"__type": "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "ipProtocol": "-1", "cidrIpv6": "::/0"}
	world_ingress(vpc) == {{"cidr": "::/0", "protocol": "-1", "from": 0, "to": 65535}}
}

test_world_ingress_ignores_egress_and_private_sources if {
	count(world_ingress({"__type": "aws:ec2/securityGroupRule:SecurityGroupRule", "__properties": {"type": "egress"}, "cidrBlocks": ["0.0.0.0/0"]})) == 0
	count(world_ingress({"__type": "aws:ec2/securityGroup:SecurityGroup", "ingress": [{"protocol": "-1", "cidrBlocks": ["198.51.100.0/24"]}]})) == 0
	count(world_ingress({"__type": "aws:ec2/securityGroup:SecurityGroup"})) == 0
}

test_web_port_is_exactly_tcp_80_or_443 if {
	web_port({"protocol": "tcp", "from": 80, "to": 80})
	web_port({"protocol": "6", "from": 443, "to": 443})
	not web_port({"protocol": "tcp", "from": 80, "to": 443})
	not web_port({"protocol": "udp", "from": 443, "to": 443})
	not web_port({"protocol": "-1", "from": 0, "to": 0})
}

test_describe_ports_names_ssh_jenkins_ranges_and_all if {
	describe_ports({"protocol": "tcp", "from": 22, "to": 22}) == "tcp port 22 (SSH)"
	describe_ports({"protocol": "tcp", "from": 8080, "to": 8080}) == "tcp port 8080 (Jenkins)"
	describe_ports({"protocol": "tcp", "from": 3306, "to": 3306}) == "tcp port 3306"
	describe_ports({"protocol": "tcp", "from": 80, "to": 443}) == "tcp ports 80-443"
	describe_ports({"protocol": "-1", "from": 0, "to": 0}) == "all traffic (protocol -1)"
}

test_label_bag_per_provider_and_type if {
	label_bag({"__type": "aws:ec2/vpc:Vpc", "tags": {"env": "dev"}, "labels": {"env": "x"}}) == {"env": "dev"}
	label_bag({"__type": "gcp:container/cluster:Cluster", "resourceLabels": {"env": "prod"}}) == {"env": "prod"}
	label_bag({"__type": "gcp:container/nodePool:NodePool", "nodeConfig": {"labels": {"env": "k8s"}, "resourceLabels": {"env": "dev"}}}) == {"env": "dev"}
	label_bag({"__type": "gcp:compute/instance:Instance", "labels": {"env": "training"}}) == {"env": "training"}
	label_bag({"__type": "aws:ec2/vpc:Vpc", "tags": null}) == {}
}

test_env_relaxes_only_dev_and_training if {
	relaxed({"__type": "aws:ecr/repository:Repository", "tags": {"env": "dev"}})
	relaxed({"__type": "aws:ecr/repository:Repository", "tags": {"env": "training"}})
	not relaxed({"__type": "aws:ecr/repository:Repository", "tags": {"env": "prod"}})
	not relaxed({"__type": "aws:ecr/repository:Repository"})
}

test_node_configs_follow_the_pools_that_create_nodes if {
	node_configs({"__type": "gcp:container/nodePool:NodePool", "nodeConfig": {"a": 1}}) == [{"a": 1}]
	node_configs({"__type": "gcp:container/cluster:Cluster", "removeDefaultNodePool": true}) == []
	node_configs({"__type": "gcp:container/cluster:Cluster"}) == [{}]
	node_configs({"__type": "gcp:container/cluster:Cluster", "enableAutopilot": true}) == []
}

test_default_compute_account if {
	default_compute_account("")
	default_compute_account("default")
	default_compute_account("1234-compute@developer.gserviceaccount.com")
	not default_compute_account("nodes@p.iam.gserviceaccount.com")
	# An output not known at preview reaches the analyzer as a non-string; object.get hides its type from the checker.
	not default_compute_account(object.get({}, "serviceAccount", {"unknown": true}))
}

test_ssm_uses_the_type_property_not_the_metadata if {
	count(deny_ssm_secret_not_secure) == 0 with input as {"__type": "aws:ssm/parameter:Parameter", "__name": "db-password", "__properties": {"type": "SecureString"}, "type": "SecureString"}
	count(deny_ssm_secret_not_secure) == 1 with input as {"__type": "aws:ssm/parameter:Parameter", "__name": "db-password", "__properties": {}, "type": "aws:ssm/parameter:Parameter"}
}

test_prod_stack_is_any_prod_resource if {
	prod_stack with input as {"resources": [{"__type": "aws:ec2/vpc:Vpc", "tags": {"env": "prod"}}, {"__type": "aws:ebs/volume:Volume"}]}
	not prod_stack with input as {"resources": [{"__type": "aws:ec2/vpc:Vpc", "tags": {"env": "dev"}}]}
}

test_tls_policy_allow_list_is_tls13_only if {
	every p in allowed_tls_policies {
		startswith(p, "ELBSecurityPolicy-TLS13-1-")
		not contains(p, "Ext")
	}
}

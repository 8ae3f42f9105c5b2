package deploylab

import rego.v1

# METADATA
# title: Only TCP 80 and 443 open to the world
# description: >-
#   No ingress from 0.0.0.0/0 or ::/0 except TCP 80 and 443 (the public ALB or nginx). SSH (22), Jenkins (8080),
#   any other port, a port range and protocol -1 (all traffic) are denied. Checked in inline
#   aws:ec2/securityGroup:SecurityGroup ingress blocks, aws:ec2/securityGroupRule:SecurityGroupRule (type ingress)
#   and aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule (cidrIpv4/cidrIpv6) alike.
# custom:
#   remediation: >-
#     Restrict the source to deploylab:adminCidrs (SSH, Jenkins, the GKE API) or to the ALB security group; only
#     TCP 80 and 443 may use 0.0.0.0/0 or ::/0.
deny_world_open_ingress contains msg if {
	some e in world_ingress(input)
	not web_port(e)
	msg := sprintf("%s %q allows %s from %s: only TCP 80 and 443 may be open to the world", [
		input.__type, input.__name, describe_ports(e), e.cidr,
	])
}

world_cidrs := {"0.0.0.0/0", "::/0"}

# world_ingress normalises the three ways to write an ingress rule into {cidr, protocol, from, to} entries whose
# source is the whole internet.
world_ingress(r) := inline_group_ingress(r) | group_rule_ingress(r) | vpc_rule_ingress(r)

inline_group_ingress(r) := {e |
	r.__type == "aws:ec2/securityGroup:SecurityGroup"
	some rule in array_or_empty(object.get(r, "ingress", []))
	some cidr in cidrs(rule, ["cidrBlocks", "ipv6CidrBlocks"])
	e := ingress_entry(cidr, object.get(rule, "protocol", "-1"), rule)
}

group_rule_ingress(r) := {e |
	r.__type == "aws:ec2/securityGroupRule:SecurityGroupRule"
	prop(r, "type") == "ingress"
	some cidr in cidrs(r, ["cidrBlocks", "ipv6CidrBlocks"])
	e := ingress_entry(cidr, object.get(r, "protocol", "-1"), r)
}

vpc_rule_ingress(r) := {e |
	r.__type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
	some key in ["cidrIpv4", "cidrIpv6"]
	cidr := object.get(r, key, "")
	cidr in world_cidrs
	e := ingress_entry(cidr, object.get(r, "ipProtocol", "-1"), r)
}

cidrs(obj, keys) := {c |
	some key in keys
	some c in array_or_empty(object.get(obj, key, []))
	c in world_cidrs
}

array_or_empty(x) := x if is_array(x)

else := []

ingress_entry(cidr, protocol, rule) := {
	"cidr": cidr,
	"protocol": lower(sprintf("%v", [protocol])),
	"from": object.get(rule, "fromPort", 0),
	"to": object.get(rule, "toPort", 65535),
}

# Protocol -1 (or "all") opens every port whatever fromPort/toPort say.
all_traffic(e) if e.protocol in {"-1", "all"}

web_port(e) if {
	e.protocol in {"tcp", "6"}
	e.from == e.to
	e.from in {80, 443}
}

describe_ports(e) := "all traffic (protocol -1)" if {
	all_traffic(e)
} else := sprintf("%s port %v%s", [e.protocol, e.from, port_name(e.from)]) if {
	e.from == e.to
} else := sprintf("%s ports %v-%v", [e.protocol, e.from, e.to])

port_name(22) := " (SSH)"

port_name(8080) := " (Jenkins)"

port_name(p) := "" if not p in {22, 8080}

package deploylab

import rego.v1

# METADATA
# title: ALB drops invalid HTTP headers
# description: >-
#   An application load balancer (aws:lb/loadBalancer:LoadBalancer, type application) must set
#   dropInvalidHeaderFields = true so malformed headers never reach nginx or the app (request smuggling).
# custom:
#   remediation: Set dropInvalidHeaderFields = true on the load balancer.
deny_alb_keeps_invalid_headers contains msg if {
	input.__type in alb_types
	object.get(input, "loadBalancerType", "application") == "application"
	object.get(input, "dropInvalidHeaderFields", false) != true
	msg := sprintf("ALB %q forwards invalid header fields: set dropInvalidHeaderFields = true", [input.__name])
}

# METADATA
# title: HTTPS listeners use a TLS 1.3 policy
# description: >-
#   An HTTPS or TLS listener must name one of the allowed TLS 1.3 security policies (TLS 1.2 minimum, forward
#   secrecy, no CBC/SHA-1 "Ext" suites). Without sslPolicy the API default is ELBSecurityPolicy-2016-08, which
#   still allows TLS 1.0.
# custom:
#   remediation: Set sslPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06" (or another policy in allowed_tls_policies).
deny_listener_weak_tls contains msg if {
	input.__type in listener_types
	upper(object.get(input, "protocol", "")) in {"HTTPS", "TLS"}
	policy := object.get(input, "sslPolicy", "ELBSecurityPolicy-2016-08 (default)")
	not policy in allowed_tls_policies
	msg := sprintf("listener %q uses TLS policy %v: use one of %v", [input.__name, policy, sort(allowed_tls_policies)])
}

allowed_tls_policies := {
	"ELBSecurityPolicy-TLS13-1-2-2021-06",
	"ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
	"ELBSecurityPolicy-TLS13-1-3-2021-06",
	"ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-3-FIPS-PQ-2025-09",
}

# METADATA
# title: Target groups have a health check
# description: >-
#   A target group must have a healthCheck block that is not disabled and, for HTTP/HTTPS checks, names the app's
#   health path: blue/green switches only to a colour the ALB has seen healthy.
# custom:
#   remediation: Add healthCheck { enabled = true, path = <appHost.healthPath>, matcher = "200" } to the target group.
deny_target_group_no_health_check contains msg if {
	input.__type in target_group_types
	not health_checked(input)
	msg := sprintf("target group %q has no enabled health check with a path: add healthCheck with the app's health path", [input.__name])
}

health_checked(r) if {
	hc := r.healthCheck
	is_object(hc)
	object.get(hc, "enabled", true) != false
	health_path_ok(r, hc)
}

health_path_ok(r, hc) if {
	protocol := upper(object.get(hc, "protocol", object.get(r, "protocol", "HTTP")))
	not protocol in {"HTTP", "HTTPS"}
}

health_path_ok(_, hc) if object.get(hc, "path", "") != ""

# METADATA
# title: HTTP listeners redirect when TLS exists
# description: >-
#   Stack rule. Once the stack terminates TLS (an HTTPS listener, a listener with certificateArn, or an ACM
#   certificate), no HTTP listener may forward traffic: it must redirect to HTTPS (or answer fixed-response).
# custom:
#   remediation: >-
#     Make the HTTP listener's default action a redirect { protocol = "HTTPS", port = "443",
#     statusCode = "HTTP_301" } and forward only from the HTTPS listener.
stack_deny_http_listener_forwards contains msg if {
	stack_has_tls
	some r in input.resources
	r.__type in listener_types
	upper(object.get(r, "protocol", "HTTP")) == "HTTP"
	some action in array_or_empty(object.get(r, "defaultActions", []))
	lower(object.get(action, "type", "")) == "forward"
	msg := sprintf("HTTP listener %q forwards to targets although the stack has TLS: redirect HTTP to HTTPS", [r.__name])
}

stack_has_tls if {
	some r in input.resources
	r.__type in listener_types
	upper(object.get(r, "protocol", "")) == "HTTPS"
}

stack_has_tls if {
	some r in input.resources
	r.__type in listener_types
	not object.get(r, "certificateArn", null) in {null, ""}
}

stack_has_tls if {
	some r in input.resources
	r.__type == "aws:acm/certificate:Certificate"
}

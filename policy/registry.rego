package deploylab

import rego.v1

# METADATA
# title: ECR scans images on push
# description: aws:ecr/repository:Repository must set imageScanningConfiguration.scanOnPush = true.
# custom:
#   remediation: Set imageScanningConfiguration { scanOnPush = true } on the repository.
deny_ecr_scan_on_push_off contains msg if {
	input.__type == "aws:ecr/repository:Repository"
	object.get(input, ["imageScanningConfiguration", "scanOnPush"], false) != true
	msg := sprintf("ECR repository %q does not scan on push: set imageScanningConfiguration.scanOnPush = true", [input.__name])
}

# METADATA
# title: ECR tags are immutable
# description: >-
#   aws:ecr/repository:Repository must set imageTagMutability IMMUTABLE so a deployed tag always names the same
#   image and a rollback is exact. Denied in prod and in any stack without a dev/training env tag.
# custom:
#   remediation: Set imageTagMutability = "IMMUTABLE" and tag images with the commit SHA instead of reusing tags.
deny_ecr_mutable_tags contains msg if {
	not relaxed(input)
	some msg in mutable_tags(input)
}

# METADATA
# title: ECR tags are immutable (dev/training)
# description: >-
#   The same check as deny_ecr_mutable_tags, advisory where the env tag is dev or training: developers may re-push
#   a moving tag there, but the Jenkins pipeline should not rely on it.
# custom:
#   remediation: Set imageTagMutability = "IMMUTABLE" and tag images with the commit SHA instead of reusing tags.
warn_ecr_mutable_tags contains msg if {
	relaxed(input)
	some msg in mutable_tags(input)
}

mutable_tags(r) := {msg |
	r.__type == "aws:ecr/repository:Repository"
	mutability := object.get(r, "imageTagMutability", "MUTABLE (default)")
	not startswith(mutability, "IMMUTABLE")
	msg := sprintf("ECR repository %q has imageTagMutability %v: set IMMUTABLE", [r.__name, mutability])
}

# METADATA
# title: Secrets in SSM are SecureString
# description: >-
#   An aws:ssm/parameter:Parameter whose resource name, name or description mentions a password, passphrase,
#   secret, token, credential or key must have type SecureString, so the value is KMS-encrypted and masked.
# custom:
#   remediation: Set type = "SecureString" (optionally keyId) and mark the value as a Pulumi secret.
deny_ssm_secret_not_secure contains msg if {
	input.__type == "aws:ssm/parameter:Parameter"
	kind := prop(input, "type")
	kind != "SecureString"
	regex.match(`(?i)(passw|passphrase|secret|token|credential|key)`, concat(" ", [
		input.__name, sprintf("%v", [prop(input, "name")]), sprintf("%v", [object.get(input, "description", "")]),
	]))
	msg := sprintf("SSM parameter %q looks like it holds a secret but has type %q: use SecureString", [input.__name, kind])
}

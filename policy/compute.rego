package deploylab

import rego.v1

# METADATA
# title: EC2 requires IMDSv2
# description: >-
#   aws:ec2/instance:Instance must set metadataOptions.httpTokens to "required" so the instance metadata service
#   (and the instance role credentials) only answer session-token (IMDSv2) requests, which blocks SSRF-style theft.
# custom:
#   remediation: Set metadataOptions.httpTokens = "required" (and keep httpEndpoint "enabled") on the instance.
deny_instance_imds_tokens_optional contains msg if {
	input.__type == "aws:ec2/instance:Instance"
	tokens := object.get(input, ["metadataOptions", "httpTokens"], "optional (default)")
	tokens != "required"
	msg := sprintf("EC2 instance %q has metadataOptions.httpTokens %v: IMDSv2 must be required", [input.__name, tokens])
}

# METADATA
# title: EC2 root volume is encrypted
# description: aws:ec2/instance:Instance must set rootBlockDevice.encrypted = true; never rely on an account default.
# custom:
#   remediation: Set rootBlockDevice.encrypted = true (optionally with a kmsKeyId) on the instance.
deny_instance_unencrypted_root contains msg if {
	input.__type == "aws:ec2/instance:Instance"
	object.get(input, ["rootBlockDevice", "encrypted"], false) != true
	msg := sprintf("EC2 instance %q has an unencrypted root volume: set rootBlockDevice.encrypted = true", [input.__name])
}

# METADATA
# title: EBS volumes are encrypted
# description: >-
#   Every aws:ebs/volume:Volume and every ebsBlockDevices entry of an aws:ec2/instance:Instance must set
#   encrypted = true.
# custom:
#   remediation: Set encrypted = true on the volume or on each ebsBlockDevices entry.
deny_ebs_unencrypted contains msg if {
	some volume in unencrypted_volumes(input)
	msg := sprintf("%s %q has an unencrypted EBS volume (%s): set encrypted = true", [input.__type, input.__name, volume])
}

unencrypted_volumes(r) := {"the volume" |
	r.__type == "aws:ebs/volume:Volume"
	object.get(r, "encrypted", false) != true
} | {sprintf("ebsBlockDevices %v", [object.get(d, "deviceName", i)]) |
	r.__type == "aws:ec2/instance:Instance"
	some i, d in array_or_empty(object.get(r, "ebsBlockDevices", []))
	object.get(d, "encrypted", false) != true
}

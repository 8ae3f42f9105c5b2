package jenkins

import (
	"encoding/json"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// gitHubTokenPlaceholder is the value the GitHub token parameter is created with until the operator puts the
// real token in; jenkins-secrets refuses to start Jenkins with it (docs/operations.md).
const gitHubTokenPlaceholder = "set-me: aws ssm put-parameter --overwrite"

// keyAdministration is what the account (through its IAM policies) may do with the secrets key: administer it
// and encrypt with it (pulumi up stores the SecureStrings), but not decrypt. The list follows the "key
// administrators" statement of AWS KMS's default key policy, without kms:Decrypt and kms:ReEncrypt*.
var keyAdministration = []string{
	"kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*",
	"kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
	"kms:CancelKeyDeletion", "kms:Encrypt", "kms:GenerateDataKey*",
}

type keyStatement struct {
	Sid       string                       `json:"Sid"`
	Effect    string                       `json:"Effect"`
	Principal map[string]string            `json:"Principal"`
	Action    []string                     `json:"Action"`
	Resource  string                       `json:"Resource"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// secretsKeyPolicy is the key policy of the controller's SecureStrings. Only two principals may decrypt, and
// only through SSM: the controller's role (it reads the secrets at every start) and the identity that runs
// pulumi up (the AWS provider reads a SecureString back with decryption after writing it:
// terraform-provider-aws internal/service/ssm/parameter.go, findParameterByName(..., true)). The account root
// keeps administration, so the key can never become unmanageable, but gets no kms:Decrypt: a key policy that does
// not allow an action to the account cannot be widened by an IAM policy (AWS KMS developer guide, "Key
// policies": IAM policies take effect only where the key policy delegates to the account). So the
// AmazonSSMManagedInstanceCore policy of the app and student hosts (ssm:GetParameter on *) still reads nothing:
// the parameter's decryption is refused. No explicit deny is needed on top of that.
func secretsKeyPolicy(partition, accountID, region, controllerRole, deployer string) (string, error) {
	viaSSM := map[string]map[string]string{"StringEquals": {"kms:ViaService": "ssm." + region + ".amazonaws.com"}}
	decrypt := []string{"kms:Decrypt"}
	doc := struct {
		Version   string         `json:"Version"`
		Statement []keyStatement `json:"Statement"`
	}{Version: "2012-10-17", Statement: []keyStatement{
		{Sid: "AccountAdministersAndEncrypts", Effect: "Allow",
			Principal: map[string]string{"AWS": "arn:" + partition + ":iam::" + accountID + ":root"},
			Action:    keyAdministration, Resource: "*"},
		{Sid: "ControllerDecryptsThroughSSM", Effect: "Allow", Principal: map[string]string{"AWS": controllerRole},
			Action: decrypt, Resource: "*", Condition: viaSSM},
		{Sid: "DeployerReadsBackThroughSSM", Effect: "Allow", Principal: map[string]string{"AWS": deployer},
			Action: decrypt, Resource: "*", Condition: viaSSM},
	}}
	b, err := json.Marshal(doc)
	return string(b), err
}

// newSecretsKey creates the customer-managed key of the controller's SecureStrings (rotated yearly by KMS).
func newSecretsKey(ctx *pulumi.Context, name string, role *iam.Role, tags pulumi.StringMap, parent pulumi.ResourceOrInvokeOption) (*kms.Key, error) {
	caller := aws.GetCallerIdentityOutput(ctx, aws.GetCallerIdentityOutputArgs{}, parent)
	// The caller of an assumed role is an sts session ARN; a key policy names the role itself.
	session := iam.GetSessionContextOutput(ctx, iam.GetSessionContextOutputArgs{Arn: caller.Arn()}, parent)
	region := aws.GetRegionOutput(ctx, aws.GetRegionOutputArgs{}, parent)
	partition := aws.GetPartitionOutput(ctx, aws.GetPartitionOutputArgs{}, parent)
	policy := pulumi.All(partition.Partition(), caller.AccountId(), region.Name(), role.Arn, session.IssuerArn(), caller.Arn()).ApplyT(
		func(v []any) (string, error) {
			deployer := v[4].(string)
			if deployer == "" { // an IAM user: its ARN is already a principal
				deployer = v[5].(string)
			}
			return secretsKeyPolicy(v[0].(string), v[1].(string), v[2].(string), v[3].(string), deployer)
		}).(pulumi.StringOutput)
	return kms.NewKey(ctx, name+"-secrets", &kms.KeyArgs{
		Description:          pulumi.String("deploylab Jenkins SecureStrings: only the controller (and pulumi up) decrypt"),
		EnableKeyRotation:    pulumi.Bool(true),
		DeletionWindowInDays: pulumi.Int(7),
		Policy:               policy,
		Tags:                 tags,
	}, parent)
}

package awsclient

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// Sensitive step values travel to the instances through Parameter Store, not
// through SendCommand (whose parameters SSM keeps in its command history for
// anyone allowed ssm:ListCommands): the provider writes each value as a
// SecureString for the rollout's duration, the command reads it on the
// instance with the instance profile's credentials, and the provider deletes
// it when the rollout ends. This file is the Parameter Store side of that;
// the naming and lifetime are the provider's (deployment_secrets.go).

// DefaultSecretsKMSKeyID is the account's AWS managed key for Parameter
// Store. Its key policy lets principals of the account use it through SSM, so
// neither the provider nor the instance profile needs a KMS grant for it.
const DefaultSecretsKMSKeyID = "alias/aws/ssm"

// maxStandardParameterValue is the standard tier's value limit (4 KB).
const maxStandardParameterValue = 4096

// maxParametersPerDelete is DeleteParameters' limit on Names.
const maxParametersPerDelete = 10

// SecretsKMSKeyID is the key SecureStrings are written with.
func (c *Client) SecretsKMSKeyID() string {
	if c.cfg.SecretsKMSKeyID != "" {
		return c.cfg.SecretsKMSKeyID
	}
	return DefaultSecretsKMSKeyID
}

// PutSecret writes value as a standard-tier SecureString under name,
// encrypted with SecretsKMSKeyID. It never overwrites: a name already taken
// is an error, since each rollout writes names of its own.
func (c *Client) PutSecret(ctx context.Context, name, value, description string) error {
	if len(value) > maxStandardParameterValue {
		return fmt.Errorf("ssm PutParameter %s: the value has %d bytes; a standard-tier parameter holds at most %d", name, len(value), maxStandardParameterValue)
	}
	_, err := c.ssm.PutParameter(ctx, &ssm.PutParameterInput{
		Name:        aws.String(name),
		Value:       aws.String(value),
		Type:        ssmtypes.ParameterTypeSecureString,
		KeyId:       aws.String(c.SecretsKMSKeyID()),
		Description: aws.String(description),
		Tier:        ssmtypes.ParameterTierStandard,
		Overwrite:   aws.Bool(false),
	})
	return translate("ssm", "PutParameter", err)
}

// SecretParameter is a parameter found under a path: never its value.
type SecretParameter struct {
	Name         string
	LastModified time.Time
}

// ListSecrets lists the parameters at any depth under path. It uses
// GetParametersByPath without decryption, which IAM can scope to the path
// (DescribeParameters cannot be scoped) and which needs no KMS permission;
// the ciphertexts it returns are dropped here.
func (c *Client) ListSecrets(ctx context.Context, path string) ([]SecretParameter, error) {
	var out []SecretParameter
	p := ssm.NewGetParametersByPathPaginator(c.ssm, &ssm.GetParametersByPathInput{
		Path: aws.String(path), Recursive: aws.Bool(true), WithDecryption: aws.Bool(false), MaxResults: aws.Int32(10),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return out, translate("ssm", "GetParametersByPath", err)
		}
		for _, prm := range page.Parameters {
			out = append(out, SecretParameter{Name: aws.ToString(prm.Name), LastModified: aws.ToTime(prm.LastModifiedDate)})
		}
	}
	return out, nil
}

// DeleteSecrets deletes the named parameters, ten per call. Names SSM
// reports as not found are already gone, which is what was asked.
func (c *Client) DeleteSecrets(ctx context.Context, names []string) error {
	for _, part := range chunks(names, maxParametersPerDelete) {
		if _, err := c.ssm.DeleteParameters(ctx, &ssm.DeleteParametersInput{Names: part}); err != nil {
			return translate("ssm", "DeleteParameters", err)
		}
	}
	return nil
}

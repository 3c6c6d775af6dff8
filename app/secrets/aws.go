package secrets

import (
	"context"
	"errors"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"deployex/app/config"
)

// fromAWS reads the secret with the default credential chain. The endpoint
// can be moved with the SDK's own AWS_ENDPOINT_URL_SECRETS_MANAGER (VPC
// endpoints, LocalStack, tests).
func fromAWS(ctx context.Context, cfg *config.Config) (values, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if cfg.AWSRegion != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.AWSRegion))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return values{}, err
	}
	if awsCfg.Region == "" {
		return values{}, errors.New("no AWS region: set AWS_REGION")
	}
	out, err := secretsmanager.NewFromConfig(awsCfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &cfg.SecretsPath})
	if err != nil {
		return values{}, err
	}
	if out.SecretString == nil {
		return values{}, errors.New("the secret holds binary data; store a JSON object as its string value")
	}
	return parsePayload([]byte(*out.SecretString))
}

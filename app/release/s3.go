package release

import (
	"context"
	"errors"
	"io"
	"iter"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"deployex/app/config"
)

type s3Store struct {
	client *s3.Client
	bucket string
}

// newS3Store uses the default credential chain (environment, shared files,
// instance or task role). A custom endpoint means an S3-compatible store,
// which nearly always wants path-style addressing.
func newS3Store(ctx context.Context, cfg *config.Config, t timeouts) (*s3Store, error) {
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(t.applyTo)
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithHTTPClient(httpClient),
		// The retry quota is meant for bursts; a poller hitting a dead bucket
		// every few seconds would drain it and then fail with "retry quota
		// exceeded" instead of the real cause, even after the bucket is back.
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None })
		}),
	}
	if cfg.AWSRegion != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.AWSRegion))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, err
	}
	if awsCfg.Region == "" {
		return nil, errors.New("s3: no AWS region: set AWS_REGION")
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.S3Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.S3Endpoint)
			o.UsePathStyle = true
		}
		// Integrity is checked by the tarball's sha256 and gzip's CRC; the
		// SDK's newer default checksums trip up several S3-compatible stores.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return &s3Store{client: client, bucket: cfg.ReleaseBucket}, nil
}

func (s *s3Store) url(key string) string { return "s3://" + s.bucket + "/" + key }

// readSmall sends If-None-Match, so an unchanged object costs one 304 with no body.
func (s *s3Store) readSmall(ctx context.Context, key, ifTag string, limit int64) ([]byte, string, error) {
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}
	if ifTag != "" {
		in.IfNoneMatch = aws.String(ifTag)
	}
	out, err := s.client.GetObject(ctx, in)
	if httpStatus(err) == http.StatusNotModified {
		return nil, "", ErrNotModified
	}
	if err != nil {
		return nil, "", err
	}
	defer out.Body.Close()
	body, err := readLimited(out.Body, limit)
	return body, aws.ToString(out.ETag), err
}

func (s *s3Store) open(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	return out.Body, ObjectInfo{
		Key:      key,
		Tag:      aws.ToString(out.ETag),
		Size:     sizeOrUnknown(out.ContentLength),
		Modified: aws.ToTime(out.LastModified),
	}, nil
}

func (s *s3Store) stat(ctx context.Context, key string) (ObjectInfo, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return ObjectInfo{}, err
	}
	return ObjectInfo{
		Key:      key,
		Tag:      aws.ToString(out.ETag),
		Size:     sizeOrUnknown(out.ContentLength),
		Modified: aws.ToTime(out.LastModified),
	}, nil
}

func (s *s3Store) list(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
			Bucket:    &s.bucket,
			Prefix:    &prefix,
			Delimiter: aws.String("/"),
		})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				yield(ObjectInfo{}, err)
				return
			}
			for _, o := range page.Contents {
				info := ObjectInfo{
					Key:      aws.ToString(o.Key),
					Tag:      aws.ToString(o.ETag),
					Size:     sizeOrUnknown(o.Size),
					Modified: aws.ToTime(o.LastModified),
				}
				if !yield(info, nil) {
					return
				}
			}
		}
	}
}

func (s *s3Store) kind(err error) error {
	switch status := httpStatus(err); {
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return ErrDenied
	case status >= 500:
		return ErrUnreachable
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NoSuchBucket", "NotFound":
			return ErrNotFound
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch":
			return ErrDenied
		}
	}
	return nil
}

// httpStatus is the status of the response behind an SDK error, or 0 when
// no response arrived.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func sizeOrUnknown(n *int64) int64 {
	if n == nil {
		return -1
	}
	return *n
}

package secrets

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"regexp"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
)

var secretNameRE = regexp.MustCompile(`^projects/[^/]+/secrets/[^/]+(/versions/[^/]+)?$`)

// fromGCP reads a version of the secret with the default credentials;
// "projects/p/secrets/s" means its latest version.
func fromGCP(ctx context.Context, path string, extra []option.ClientOption) (values, error) {
	m := secretNameRE.FindStringSubmatch(path)
	if m == nil {
		return values{}, errors.New("want projects/PROJECT/secrets/NAME, optionally followed by /versions/VERSION")
	}
	name := path
	if m[1] == "" {
		name += "/versions/latest"
	}
	client, err := secretmanager.NewClient(ctx, extra...)
	if err != nil {
		return values{}, err
	}
	defer client.Close()
	resp, err := client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name})
	if err != nil {
		return values{}, err
	}
	data := resp.GetPayload().GetData()
	if want := resp.GetPayload().DataCrc32C; want != nil && int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))) != *want {
		return values{}, fmt.Errorf("%s: the payload does not match its checksum", name)
	}
	return parsePayload(data)
}

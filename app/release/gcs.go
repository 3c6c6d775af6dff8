package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	htransport "google.golang.org/api/transport/http"

	"deployex/app/config"
)

type gcsStore struct {
	bucket *storage.BucketHandle
	name   string
}

// newGCSStore authenticates with the default credentials
// (GOOGLE_APPLICATION_CREDENTIALS or the metadata server). The client is
// built over our own transport so connection and header timeouts apply;
// extra carries test-only options such as option.WithoutAuthentication, which
// an endpoint alone does not imply.
func newGCSStore(ctx context.Context, cfg *config.Config, t timeouts, extra []option.ClientOption) (*gcsStore, error) {
	base := http.DefaultTransport.(*http.Transport).Clone()
	t.applyTo(base)
	authOpts := append([]option.ClientOption{option.WithScopes(storage.ScopeReadOnly)}, extra...)
	rt, err := htransport.NewTransport(ctx, base, authOpts...)
	if err != nil {
		return nil, err
	}
	// JSON reads work against both GCS and fake-gcs-server; XML reads need
	// the real storage.googleapis.com host.
	opts := append([]option.ClientOption{option.WithHTTPClient(&http.Client{Transport: rt}), storage.WithJSONReads()}, extra...)
	if cfg.GCSEndpoint != "" {
		endpoint, err := jsonAPIEndpoint(cfg.GCSEndpoint)
		if err != nil {
			return nil, err
		}
		opts = append(opts, option.WithEndpoint(endpoint))
	}
	client, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return &gcsStore{bucket: client.Bucket(cfg.ReleaseBucket), name: cfg.ReleaseBucket}, nil
}

// jsonAPIEndpoint accepts an emulator-style bare "http://host:port" as well
// as the full JSON API base the client wants ("…/storage/v1/").
func jsonAPIEndpoint(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("gcs: endpoint %q is not an http(s) URL", endpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/storage/v1/"
	}
	return u.String(), nil
}

func (g *gcsStore) url(key string) string { return "gs://" + g.name + "/" + key }

// readSmall compares generations through a metadata request first and then
// reads exactly the generation it saw, so an unchanged object costs no body
// and the tag always matches the bytes returned.
func (g *gcsStore) readSmall(ctx context.Context, key, ifTag string, limit int64) ([]byte, string, error) {
	obj := g.bucket.Object(key)
	if ifTag != "" {
		attrs, err := obj.Attrs(ctx)
		if err != nil {
			return nil, "", err
		}
		if generationTag(attrs.Generation) == ifTag {
			return nil, "", ErrNotModified
		}
		obj = obj.Generation(attrs.Generation)
	}
	r, info, err := g.reader(ctx, obj, key)
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	body, err := readLimited(r, limit)
	return body, info.Tag, err
}

// open refuses a tarball stored with Content-Encoding: gzip (gsutil cp -Z):
// GCS would serve it decompressed, a bare tar whose digest matches nothing.
// ReadCompressed cannot help: JSON reads refuse its Accept-Encoding header.
func (g *gcsStore) open(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	r, info, err := g.reader(ctx, g.bucket.Object(key), key)
	if err == nil && r.Attrs.Decompressed {
		r.Close()
		return nil, ObjectInfo{}, errors.New("stored with Content-Encoding: gzip, so it is served decompressed; upload it without that header")
	}
	return r, info, err
}

func (g *gcsStore) reader(ctx context.Context, obj *storage.ObjectHandle, key string) (*storage.Reader, ObjectInfo, error) {
	r, err := obj.NewReader(ctx)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	return r, ObjectInfo{
		Key:      key,
		Tag:      generationTag(r.Attrs.Generation),
		Size:     r.Attrs.Size,
		Modified: r.Attrs.LastModified,
	}, nil
}

func (g *gcsStore) stat(ctx context.Context, key string) (ObjectInfo, error) {
	attrs, err := g.bucket.Object(key).Attrs(ctx)
	if err != nil {
		return ObjectInfo{}, err
	}
	return gcsInfo(attrs), nil
}

func (g *gcsStore) list(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		q := &storage.Query{Prefix: prefix, Delimiter: "/"}
		if err := q.SetAttrSelection([]string{"Name", "Size", "Updated", "Generation"}); err != nil {
			yield(ObjectInfo{}, err)
			return
		}
		it := g.bucket.Objects(ctx, q)
		for {
			attrs, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return
			}
			if err != nil {
				yield(ObjectInfo{}, err)
				return
			}
			if attrs.Prefix != "" {
				continue // a sub-folder, collapsed by the delimiter
			}
			if !yield(gcsInfo(attrs), nil) {
				return
			}
		}
	}
}

func (g *gcsStore) kind(err error) error {
	if errors.Is(err, storage.ErrObjectNotExist) || errors.Is(err, storage.ErrBucketNotExist) {
		return ErrNotFound
	}
	var apiErr *googleapi.Error
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.Code == http.StatusNotFound:
			return ErrNotFound
		case apiErr.Code == http.StatusUnauthorized || apiErr.Code == http.StatusForbidden:
			return ErrDenied
		case apiErr.Code >= 500:
			return ErrUnreachable
		}
	}
	return nil
}

func gcsInfo(attrs *storage.ObjectAttrs) ObjectInfo {
	return ObjectInfo{
		Key:      attrs.Name,
		Tag:      generationTag(attrs.Generation),
		Size:     attrs.Size,
		Modified: attrs.Updated,
	}
}

func generationTag(gen int64) string { return strconv.FormatInt(gen, 10) }

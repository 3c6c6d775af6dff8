package secrets

import (
	"context"
	"hash/crc32"
	"net"
	"sync"
	"testing"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"deployex/app/config"
)

// fakeSecretManager serves AccessSecretVersion over real gRPC and records
// the version names asked for.
type fakeSecretManager struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer
	payloads map[string][]byte // by full version name
	badCRC   bool

	mu    sync.Mutex
	asked []string
}

func (f *fakeSecretManager) AccessSecretVersion(_ context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	f.mu.Lock()
	f.asked = append(f.asked, req.GetName())
	f.mu.Unlock()
	data, ok := f.payloads[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found or has no versions.", req.GetName())
	}
	crc := int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	if f.badCRC {
		crc++
	}
	return &secretmanagerpb.AccessSecretVersionResponse{
		Name:    req.GetName(),
		Payload: &secretmanagerpb.SecretPayload{Data: data, DataCrc32C: &crc},
	}, nil
}

// serveGCP starts the fake and returns options that reach it the way a
// production client would be built, minus TLS and credentials.
func serveGCP(t *testing.T, fake *fakeSecretManager) options {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	secretmanagerpb.RegisterSecretManagerServiceServer(srv, fake)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	o := testOptions
	o.gcp = []option.ClientOption{
		option.WithEndpoint(l.Addr().String()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
	return o
}

func gcpConfig(path string) *config.Config {
	return &config.Config{SecretsAdapter: config.SecretsGCP, SecretsPath: path, AdminHash: config.LocalAdminHash, Cookie: config.LocalCookie}
}

func TestGCPSecrets(t *testing.T) {
	fake := &fakeSecretManager{payloads: map[string][]byte{
		"projects/p/secrets/deployex/versions/latest": []byte(goodPayload(t) + "\n"),
		"projects/p/secrets/deployex/versions/3":      []byte(goodPayload(t)),
		"projects/p/secrets/partial/versions/latest":  []byte(payload(t, map[string]any{KeyAdminHash: goodHash, KeyCookie: "c"})),
	}}
	o := serveGCP(t, fake)
	ctx := context.Background()

	for _, path := range []string{"projects/p/secrets/deployex", "projects/p/secrets/deployex/versions/3"} {
		cfg := gcpConfig(path)
		if err := apply(ctx, cfg, o); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		assertFromSecret(t, cfg)
	}
	if fake.asked[0] != "projects/p/secrets/deployex/versions/latest" || fake.asked[1] != "projects/p/secrets/deployex/versions/3" {
		t.Fatalf("asked for %v", fake.asked)
	}

	assertErr(t, apply(ctx, gcpConfig("projects/p/secrets/partial"), o), `gcp secret "projects/p/secrets/partial": the payload has no `+KeySecretKeyBase)
	assertErr(t, apply(ctx, gcpConfig("projects/p/secrets/missing"), o), "NotFound")
	assertErr(t, apply(ctx, gcpConfig("my-secret"), o), "want projects/PROJECT/secrets/NAME")
	if len(fake.asked) != 4 {
		t.Fatalf("a malformed name reached the server: %v", fake.asked)
	}
}

func TestGCPSecretsChecksum(t *testing.T) {
	fake := &fakeSecretManager{badCRC: true, payloads: map[string][]byte{
		"projects/p/secrets/deployex/versions/latest": []byte(goodPayload(t)),
	}}
	assertErr(t, apply(context.Background(), gcpConfig("projects/p/secrets/deployex"), serveGCP(t, fake)), "does not match its checksum")
}

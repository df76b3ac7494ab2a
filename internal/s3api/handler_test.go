package s3api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/elbapi"
	"github.com/kelb-io/kelb/internal/s3api"
	"github.com/kelb-io/kelb/internal/s3store"
)

const (
	region = "us-west-2"
	keyID  = "AKIDKELBS3TEST"
	secret = "kelb-s3-test-secret"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "kelb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := s3api.NewHandler(s3api.Config{
		Objects:     s3store.New(s3store.Config{Store: st, Region: region}),
		Credentials: elbapi.StaticCredentials{keyID: secret},
		Region:      region,
		Documents: func(_ context.Context, path string) ([]byte, string, error) {
			if path == "doc/one" {
				return []byte("document one"), "text/plain", nil
			}
			return nil, "", s3store.NoSuchKey("_kelb", path)
		},
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// do sends a request signed as the SDKs sign S3 requests (the path
// encoded once, the payload's hash signed).
func do(t *testing.T, method, rawURL string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}, req, hash, "s3", region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestBucketsAndObjects(t *testing.T) {
	srv := newServer(t)
	u := srv.URL
	steps := []struct {
		method, path string
		body         []byte
		status       int
		contains     string
	}{
		{"PUT", "/Bad_Name", nil, 400, "InvalidBucketName"},
		{"PUT", "/cas", nil, 200, ""},
		{"PUT", "/cas", nil, 409, "BucketAlreadyOwnedByYou"},
		{"PUT", "/cas/dir/a%20b.pem", []byte("hello"), 200, ""},
		{"PUT", "/cas/dir/c.pem", []byte("c"), 200, ""},
		{"PUT", "/cas/top.pem", []byte("top"), 200, ""},
		{"PUT", "/nobucket/x", []byte("x"), 404, "NoSuchBucket"},
		{"GET", "/cas/dir/a%20b.pem", nil, 200, "hello"},
		{"GET", "/cas/missing", nil, 404, "NoSuchKey"},
		{"GET", "/cas?list-type=2&delimiter=%2F", nil, 200, "<CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes>"},
		{"GET", "/cas?list-type=2&prefix=dir%2F", nil, 200, "<Key>dir/a b.pem</Key>"},
		{"GET", "/", nil, 200, "<Name>cas</Name>"},
		{"DELETE", "/cas", nil, 409, "BucketNotEmpty"},
		{"POST", "/cas/x?uploads", nil, 501, "NotImplemented"},
		{"GET", "/_kelb/doc/one", nil, 200, "document one"},
		{"GET", "/_kelb/doc/two", nil, 404, "NoSuchKey"},
		{"DELETE", "/cas/dir/a%20b.pem", nil, 204, ""},
		{"DELETE", "/cas/dir/c.pem", nil, 204, ""},
		{"DELETE", "/cas/top.pem", nil, 204, ""},
		{"DELETE", "/cas", nil, 204, ""},
	}
	for _, s := range steps {
		status, body := do(t, s.method, u+s.path, s.body)
		if status != s.status || !strings.Contains(body, s.contains) {
			t.Errorf("%s %s: %d %q, want %d containing %q", s.method, s.path, status, body, s.status, s.contains)
		}
	}

	// Paging through a listing with max-keys.
	do(t, "PUT", u+"/page", nil)
	for _, k := range []string{"a", "b", "c"} {
		do(t, "PUT", u+"/page/"+k, []byte(k))
	}
	var keys []string
	token := ""
	for range 5 {
		q := "list-type=2&max-keys=2"
		if token != "" {
			q += "&continuation-token=" + url.QueryEscape(token)
		}
		_, body := do(t, "GET", u+"/page?"+q, nil)
		var res struct {
			Contents              []struct{ Key string }
			NextContinuationToken string
		}
		if err := xml.Unmarshal([]byte(body), &res); err != nil {
			t.Fatal(err)
		}
		for _, c := range res.Contents {
			keys = append(keys, c.Key)
		}
		if token = res.NextContinuationToken; token == "" {
			break
		}
	}
	if strings.Join(keys, ",") != "a,b,c" {
		t.Errorf("paged listing: %v", keys)
	}
}

func TestAuthenticationAndLimits(t *testing.T) {
	srv := newServer(t)
	do(t, "PUT", srv.URL+"/cas", nil)

	resp, err := http.Get(srv.URL + "/cas/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "AccessDenied") {
		t.Errorf("unsigned GET: %d %s", resp.StatusCode, b)
	}

	status, body := do(t, "PUT", srv.URL+"/cas/big", make([]byte, s3store.MaxObjectSize+1))
	if status != http.StatusBadRequest || !strings.Contains(body, "EntityTooLarge") {
		t.Errorf("object over the limit: %d %q", status, body)
	}
	if status, _ := do(t, "GET", srv.URL+"/cas/big", nil); status != http.StatusNotFound {
		t.Errorf("the refused object exists: %d", status)
	}

	// A presigned GET, as GetTrustStoreCaCertificatesBundle hands out.
	u, _ := url.Parse(srv.URL + "/_kelb/doc/one")
	signed := elbapi.Presign(u, keyID, secret, region, "s3", time.Now(), time.Minute)
	resp, err = http.Get(signed.String())
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "document one" {
		t.Errorf("presigned GET: %d %q", resp.StatusCode, b)
	}
	expired := elbapi.Presign(u, keyID, secret, region, "s3", time.Now().Add(-2*time.Minute), time.Minute)
	if resp, err = http.Get(expired.String()); err == nil {
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "expired") {
			t.Errorf("expired presigned GET: %d %s", resp.StatusCode, b)
		}
	}
}

// The aws CLI, unchanged but for its endpoint, makes buckets and copies
// objects; boto3's put_object of a file over the limit fails with
// EntityTooLarge.
func TestAWSCLI(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("aws CLI not installed")
	}
	srv := newServer(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("bundle"), 0o600)
	os.WriteFile(filepath.Join(dir, "big.bin"), make([]byte, 2<<20), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", `
cd "$DIR"
aws s3 mb s3://cas >/dev/null
aws s3 cp --only-show-errors ca.pem s3://cas/ca.pem
aws s3 cp --only-show-errors s3://cas/ca.pem copy.pem
cmp ca.pem copy.pem
aws s3 ls s3://cas/ | awk '{print $NF}'
python3 -c "
import boto3, botocore
try:
    boto3.client('s3').put_object(Bucket='cas', Key='big.bin', Body=open('big.bin','rb').read())
except botocore.exceptions.ClientError as e:
    assert e.response['Error']['Code'] == 'EntityTooLarge', e.response
else:
    raise SystemExit('big object accepted')
"
`)
	cmd.Env = append(os.Environ(), "DIR="+dir, "HOME="+dir, "AWS_CONFIG_FILE="+dir+"/config", "AWS_SHARED_CREDENTIALS_FILE="+dir+"/credentials",
		"AWS_ACCESS_KEY_ID="+keyID, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_DEFAULT_REGION="+region, "AWS_ENDPOINT_URL_S3="+srv.URL)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ca.pem" {
		t.Errorf("aws s3: %v\n%s", err, out)
	}
}

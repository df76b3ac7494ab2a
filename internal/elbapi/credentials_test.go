package elbapi

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadOrCreateCredentials(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	id, secret, created, err := LoadOrCreateCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Error("created = false on an empty directory")
	}
	if !regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`).MatchString(id) || len(secret) != 40 {
		t.Errorf("key pair %q / %d-character secret is not shaped like AWS's", id, len(secret))
	}
	path := filepath.Join(dir, "credentials")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}

	id2, secret2, created2, err := LoadOrCreateCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	if created2 || id2 != id || secret2 != secret {
		t.Errorf("second load = %q, %q, created %v; want the first key, not created", id2, secret2, created2)
	}

	// The file is a valid AWS credentials file.
	creds, err := ReadCredentialsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(StaticCredentials{id: secret}, creds); diff != "" {
		t.Errorf("credentials (-want +got):\n%s", diff)
	}

	if _, _, _, err := LoadOrCreateCredentials(t.TempDir() + "/\x00bad"); err == nil {
		t.Error("LoadOrCreateCredentials succeeded with an invalid directory")
	}
}

func TestLoadCredentialsWithoutKelbProfile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "credentials"), []byte("[default]\naws_access_key_id = A\naws_secret_access_key = B\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := LoadOrCreateCredentials(dir); err == nil {
		t.Error("a credentials file without [kelb] was accepted")
	}
}

func TestReadCredentialsFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    StaticCredentials
		wantErr bool
	}{
		{
			name: "several profiles, comments, spacing",
			content: "# kelb keys\n[default]\naws_access_key_id=AKIA1\naws_secret_access_key = s1 \n\n; ops\n" +
				"[profile ops]\n  AWS_ACCESS_KEY_ID = AKIA2\naws_secret_access_key = s2=with=equals\nregion = us-west-2\n" +
				"[incomplete]\naws_access_key_id = AKIA3\n",
			want: StaticCredentials{"AKIA1": "s1", "AKIA2": "s2=with=equals"},
		},
		{name: "empty", content: "", want: StaticCredentials{}},
		{name: "key outside a section", content: "aws_access_key_id = A\n", wantErr: true},
		{name: "broken section", content: "[kelb\n", wantErr: true},
		{name: "line without =", content: "[kelb]\nnonsense\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "credentials")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadCredentialsFile(path)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); !tt.wantErr && diff != "" {
				t.Errorf("credentials (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := ReadCredentialsFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("reading a missing file succeeded")
	}
}

package elbapi

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Credentials looks up the secret of an access key id.
type Credentials interface {
	SecretKey(accessKeyID string) (secret string, ok bool)
}

// StaticCredentials maps access key ids to secrets.
type StaticCredentials map[string]string

// SecretKey implements Credentials.
func (c StaticCredentials) SecretKey(accessKeyID string) (string, bool) {
	s, ok := c[accessKeyID]
	return s, ok
}

// CredentialsProfile is the profile kelb writes its generated key under, so
// that the file doubles as an aws CLI credentials file (AWS_PROFILE=kelb).
const CredentialsProfile = "kelb"

// credentialsFileName is the name of the credentials file in the data
// directory.
const credentialsFileName = "credentials"

// LoadOrCreateCredentials returns the access key kelb server accepts, kept in
// dataDir/credentials (an AWS-style INI file with a [kelb] profile, mode
// 0600). When the file does not exist, it generates a new random key pair,
// writes it atomically and reports created. A file that exists but holds no
// [kelb] key is an error rather than silently replaced.
func LoadOrCreateCredentials(dataDir string) (accessKeyID, secret string, created bool, err error) {
	path := filepath.Join(dataDir, credentialsFileName)
	profiles, err := readProfiles(path)
	switch {
	case err == nil:
		p := profiles[CredentialsProfile]
		if p["aws_access_key_id"] == "" || p["aws_secret_access_key"] == "" {
			return "", "", false, fmt.Errorf("credentials file %s: no [%s] profile with aws_access_key_id and aws_secret_access_key", path, CredentialsProfile)
		}
		return p["aws_access_key_id"], p["aws_secret_access_key"], false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", "", false, err
	}

	accessKeyID, secret, err = generateKeyPair()
	if err != nil {
		return "", "", false, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", "", false, fmt.Errorf("create data directory %s: %w", dataDir, err)
	}
	content := fmt.Sprintf("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", CredentialsProfile, accessKeyID, secret)
	if err := writeFileAtomic(path, []byte(content), 0o600); err != nil {
		return "", "", false, err
	}
	return accessKeyID, secret, true, nil
}

// ReadCredentialsFile reads an AWS-style credentials file (the format of
// ~/.aws/credentials) and returns the key of every profile that has both
// aws_access_key_id and aws_secret_access_key.
func ReadCredentialsFile(path string) (StaticCredentials, error) {
	profiles, err := readProfiles(path)
	if err != nil {
		return nil, err
	}
	creds := StaticCredentials{}
	for _, p := range profiles {
		id, secret := p["aws_access_key_id"], p["aws_secret_access_key"]
		if id != "" && secret != "" {
			creds[id] = secret
		}
	}
	return creds, nil
}

// readProfiles parses an INI credentials file into profile -> key -> value.
// "[profile x]" names profile x, as in ~/.aws/config; comments start with #
// or ;. Keys are lower-cased.
func readProfiles(path string) (map[string]map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read credentials file: %w", err)
	}
	profiles := map[string]map[string]string{}
	var current map[string]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("credentials file %s line %d: malformed section %q", path, n, line)
			}
			name := strings.TrimSpace(line[1 : len(line)-1])
			name = strings.TrimSpace(strings.TrimPrefix(name, "profile "))
			if profiles[name] == nil {
				profiles[name] = map[string]string{}
			}
			current = profiles[name]
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return nil, fmt.Errorf("credentials file %s line %d: expected key = value", path, n)
			}
			if current == nil {
				return nil, fmt.Errorf("credentials file %s line %d: key outside a [profile] section", path, n)
			}
			current[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read credentials file %s: %w", path, err)
	}
	return profiles, nil
}

// generateKeyPair makes a key pair shaped like AWS's: a 20-character access
// key id starting with AKIA and a 40-character secret.
func generateKeyPair() (accessKeyID, secret string, err error) {
	idBytes := make([]byte, 10)
	secretBytes := make([]byte, 30)
	if _, err := rand.Read(idBytes); err != nil {
		return "", "", fmt.Errorf("generate access key id: %w", err)
	}
	if _, err := rand.Read(secretBytes); err != nil {
		return "", "", fmt.Errorf("generate secret access key: %w", err)
	}
	id := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(idBytes)
	return "AKIA" + id[:16], base64.StdEncoding.EncodeToString(secretBytes), nil
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

package elbapi

// Credentials looks up the secret of an access key.
type Credentials interface {
	SecretKey(accessKeyID string) (secret string, ok bool)
}

// StaticCredentials maps access key ids to secrets.
type StaticCredentials map[string]string

// SecretKey implements Credentials.
func (c StaticCredentials) SecretKey(id string) (string, bool) { s, ok := c[id]; return s, ok }

// LoadOrCreateCredentials loads or creates dataDir/credentials.
func LoadOrCreateCredentials(dataDir string) (accessKeyID, secret string, created bool, err error) {
	return "", "", false, nil
}

// ReadCredentialsFile reads an AWS-style credentials file.
func ReadCredentialsFile(path string) (StaticCredentials, error) { return nil, nil }

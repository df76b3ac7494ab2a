package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/kelb-io/kelb/internal/certstore"
	"github.com/kelb-io/kelb/internal/elb/store"
)

// CertificateKeyFile is the file in the data dir that holds the key
// sealing the private keys of imported certificates (mode 0600, created at
// first start). Every kelb server sharing one etcd store needs the same
// file: copy it from the first.
const CertificateKeyFile = "kelb.db.key"

// AuthorityFile is the file in the data dir where kelb server writes the
// certificate of its certificate authority (PEM, mode 0644) at every
// start: the CA that signs the certificates RequestCertificate issues.
// Clients that should trust those certificates trust this file (curl
// --cacert, a browser's or system's trust store); `kelb server ca` prints
// it, and GetCertificate returns it as a requested certificate's chain.
const AuthorityFile = "kelb-ca.pem"

// writeAuthority creates the store's certificate authority when it has
// none and writes its certificate to AuthorityFile.
func writeAuthority(ctx context.Context, cfg Config, certs *certstore.Store) error {
	ca, err := certs.Authority(ctx)
	if err != nil {
		return err
	}
	path := filepath.Join(cfg.DataDir, AuthorityFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(ca.CertificatePEM), 0o644); err != nil {
		return fmt.Errorf("write certificate authority: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write certificate authority: %w", err)
	}
	return nil
}

// sealCertificateKeys loads (or creates) the certificate key and seals the
// private keys that an older kelb stored in plain text. A bbolt store that
// held any is then compacted and reopened, so the plain text does not stay
// behind in its free pages; the store to use is returned. (etcd keeps old
// values in its history until etcd itself is compacted.) On error st is
// closed.
func sealCertificateKeys(ctx context.Context, cfg Config, st store.Store, log *slog.Logger) (store.Store, *certstore.Key, error) {
	key, err := certstore.LoadOrCreateKey(filepath.Join(cfg.DataDir, CertificateKeyFile))
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	sealed, err := certstore.New(certstore.Config{Store: st, Key: key}).SealPlaintextKeys(ctx)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	if sealed == 0 {
		return st, key, nil
	}
	if _, ok := st.(*store.Bolt); !ok {
		log.Warn("sealed private keys stored in plain text by an earlier kelb; the store's history may still hold them", "certificates", sealed)
		return st, key, nil
	}
	path := filepath.Join(cfg.DataDir, "kelb.db")
	if err := st.Close(); err != nil {
		return nil, nil, fmt.Errorf("close store %s: %w", path, err)
	}
	if err := store.CompactBolt(path); err != nil {
		return nil, nil, err
	}
	log.Info("sealed private keys stored in plain text by an earlier kelb, and compacted the store", "certificates", sealed, "store", path)
	b, err := store.OpenBolt(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open store in %s: %w", cfg.DataDir, err)
	}
	return b, key, nil
}

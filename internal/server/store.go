package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// Store backends.
const (
	StoreBolt = "bolt"
	StoreEtcd = "etcd"
)

// StoreConfig selects where the configuration is kept.
type StoreConfig struct {
	// Backend is StoreBolt (default: kelb.db in the data dir, for one kelb
	// server) or StoreEtcd (shared by every kelb server on the same etcd
	// and prefix).
	Backend string
	// Etcd configures the etcd backend.
	Etcd store.EtcdConfig
}

// openStore opens the configured store; desc says which, for the log.
func openStore(ctx context.Context, cfg Config) (st store.Store, desc string, err error) {
	switch cfg.Store.Backend {
	case "", StoreBolt:
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, "", fmt.Errorf("data dir: %w", err)
		}
		path := filepath.Join(cfg.DataDir, "kelb.db")
		b, err := store.OpenBolt(path)
		if err != nil {
			return nil, "", fmt.Errorf("open store in %s: %w", cfg.DataDir, err)
		}
		return b, "bolt " + path, nil
	case StoreEtcd:
		e, err := store.OpenEtcd(ctx, cfg.Store.Etcd)
		if err != nil {
			return nil, "", fmt.Errorf("open store: %w", err)
		}
		return e, fmt.Sprintf("etcd %v prefix %s", cfg.Store.Etcd.Endpoints, e.Prefix()), nil
	}
	return nil, "", fmt.Errorf("unknown store %q: want %s or %s", cfg.Store.Backend, StoreBolt, StoreEtcd)
}

package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CompactBolt rewrites the bbolt file at path, which must not be open,
// into a new file that holds only its live keys and values, and renames the
// new file over the old one. bbolt never clears the pages a deleted or
// overwritten value leaves free, so this is how a value that must not stay
// readable (a private key stored in plain text by an older kelb) leaves the
// file. On error the original file is left as it was.
func CompactBolt(path string) error {
	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("compact store %s: %w", path, err)
	}
	defer src.Close()
	tmp := path + ".compact"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("compact store %s: %w", path, err)
	}
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("compact store %s: %w", path, err)
	}
	if err := bolt.Compact(dst, src, 0); err != nil {
		dst.Close()
		os.Remove(tmp)
		return fmt.Errorf("compact store %s: %w", path, err)
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("compact store %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("compact store %s: %w", path, err)
	}
	// Make the rename durable.
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		dir.Sync()
		dir.Close()
	}
	return nil
}

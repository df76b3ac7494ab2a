package store

import (
	"context"
	"fmt"
)

// copyBatch is how many keys Copy writes per transaction: well below etcd's
// default limit of 128 operations in one transaction.
const copyBatch = 100

// Copy copies every key of src, read at one revision, into dst, which must
// be empty (so that nothing of an existing configuration is overwritten),
// and returns how many keys it copied. The copy is written in batches of
// copyBatch keys, one Update each: if it fails part-way, dst holds a prefix
// of the copy, and Copy can be run again once dst is cleared. Run it before
// any kelb server uses dst.
func Copy(ctx context.Context, dst, src Store) (int, error) {
	var have []string
	if err := dst.View(ctx, func(tx ReadTx) error {
		var err error
		have, err = tx.Kinds()
		return err
	}); err != nil {
		return 0, fmt.Errorf("read destination: %w", err)
	}
	if len(have) > 0 {
		return 0, fmt.Errorf("destination store is not empty: it holds %v", have)
	}
	type entry struct {
		kind string
		kv   KV
	}
	var all []entry
	if err := src.View(ctx, func(tx ReadTx) error {
		kinds, err := tx.Kinds()
		if err != nil {
			return err
		}
		for _, kind := range kinds {
			kvs, err := tx.List(kind)
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				all = append(all, entry{kind, kv})
			}
		}
		return nil
	}); err != nil {
		return 0, fmt.Errorf("read source: %w", err)
	}
	for i := 0; i < len(all); i += copyBatch {
		batch := all[i:min(i+copyBatch, len(all))]
		if err := dst.Update(ctx, func(tx Tx) error {
			for _, e := range batch {
				if err := tx.Put(e.kind, e.kv.Key, e.kv.Value); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return i, fmt.Errorf("write destination (%d of %d keys written): %w", i, len(all), err)
		}
	}
	return len(all), nil
}

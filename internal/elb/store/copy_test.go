package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCopy copies a bbolt store into each backend, in several batches, and
// refuses to copy into a store that is not empty.
func TestCopy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		src := openTestBolt(t, filepath.Join(t.TempDir(), "src.db"))
		want := map[string][]KV{}
		if err := src.Update(ctx, func(tx Tx) error {
			for i := range 2*copyBatch + 7 { // several batches
				kind := []string{"loadbalancer", "targetgroup", "certificate"}[i%3]
				kv := KV{Key: fmt.Sprintf("arn:aws:x:%04d/a/b", i), Value: []byte(strconv.Itoa(i))}
				want[kind] = append(want[kind], kv)
				if err := tx.Put(kind, kv.Key, kv.Value); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		dst := be.space(t)(t)
		n, err := Copy(ctx, dst, src)
		if err != nil {
			t.Fatalf("Copy: %v", err)
		}
		if n != 2*copyBatch+7 {
			t.Errorf("Copy copied %d keys, want %d", n, 2*copyBatch+7)
		}
		for kind, kvs := range want {
			got, err := dst.List(ctx, kind)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(kvs, got); diff != "" {
				t.Errorf("%s after Copy (-want +got):\n%s", kind, diff)
			}
		}
		// A second copy would overwrite: it is refused and writes nothing.
		rev, _ := dst.Revision(ctx)
		if _, err := Copy(ctx, dst, src); err == nil {
			t.Error("Copy into a store that is not empty succeeded")
		}
		if rev2, _ := dst.Revision(ctx); rev2 != rev {
			t.Errorf("refused Copy moved the revision from %d to %d", rev, rev2)
		}
	})
}

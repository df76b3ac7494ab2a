// Package s3store keeps the buckets and objects of kelb's minimal S3:
// the place trust store CA bundles and certificate revocation lists are
// uploaded to, as AWS reads them from S3. Buckets and objects live in
// kelb's configuration store (bbolt or etcd), one JSON record each, so
// every kelb server of a fleet sees the same objects.
//
// It is not a general object store: an object is at most MaxObjectSize
// bytes (a CA bundle or a CRL is small; larger uploads fail with
// EntityTooLarge and nothing is written), a server holds at most
// MaxBuckets buckets, and buckets are not versioned (an object's version
// is "null", as S3 reports it for an unversioned bucket). Bucket names
// follow S3's rules (InvalidBucketName); deleting a bucket that holds
// objects fails with BucketNotEmpty. Every failure is an *Error with S3's
// error code and HTTP status; package s3api sends them to clients.
//
// ReadObject reads an object inside another transaction: CreateTrustStore
// reads its bundle in the same transaction that stores the trust store.
package s3store

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// Store kinds.
const (
	KindBucket = "s3bucket"
	KindObject = "s3object"
)

// Limits.
const (
	// MaxObjectSize is the largest object kelb keeps: AWS takes CA
	// bundles of up to 1 MB, and etcd's default request limit is 1.5 MiB.
	MaxObjectSize = 1 << 20
	// MaxBuckets is the number of buckets a server holds, S3's default
	// quota per account.
	MaxBuckets = 100
	// MaxKeyLength is the longest object key, in bytes, as S3's.
	MaxKeyLength = 1024
	// NullVersion is the version id of every object: buckets are not
	// versioned.
	NullVersion = "null"
)

// Error is an S3 error: its code, message and HTTP status.
type Error struct {
	Code     string
	Message  string
	Status   int
	Resource string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, resource, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: status, Resource: resource}
}

// NoSuchBucket is the error for a bucket that does not exist.
func NoSuchBucket(bucket string) *Error {
	return errorf(http.StatusNotFound, "NoSuchBucket", "/"+bucket, "The specified bucket does not exist")
}

// NoSuchKey is the error for an object that does not exist.
func NoSuchKey(bucket, key string) *Error {
	return errorf(http.StatusNotFound, "NoSuchKey", "/"+bucket+"/"+key, "The specified key does not exist.")
}

// Bucket is a bucket.
type Bucket struct {
	Name         string
	CreationDate time.Time
	Region       string
}

// Object is an object and its metadata.
type Object struct {
	Bucket       string
	Key          string
	Data         []byte
	Size         int64
	ContentType  string `json:",omitempty"`
	ETag         string // quoted hex MD5, as S3 sends it
	LastModified time.Time
}

// Config configures a Store. Store is required.
type Config struct {
	Store  store.Store
	Region string
	// Now tells the time; nil: time.Now.
	Now func() time.Time
}

// Store keeps buckets and objects.
type Store struct {
	cfg Config
}

// New returns a Store.
func New(cfg Config) *Store {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Store{cfg: cfg}
}

// Region is the region buckets are created in.
func (s *Store) Region() string { return s.cfg.Region }

// CheckBucketName validates a bucket name as S3 does: 3 to 63 characters
// of lower-case letters, digits, dots and hyphens, starting and ending
// with a letter or digit, no two adjacent dots, not an IP address.
func CheckBucketName(name string) *Error {
	bad := func() *Error {
		return errorf(http.StatusBadRequest, "InvalidBucketName", "/"+name, "The specified bucket is not valid.")
	}
	if len(name) < 3 || len(name) > 63 || strings.Contains(name, "..") {
		return bad()
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && c != '.' && c != '-' || (i == 0 || i == len(name)-1) && !alnum {
			return bad()
		}
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return bad()
	}
	return nil
}

// CheckKey validates an object key.
func CheckKey(key string) *Error {
	if key == "" || len(key) > MaxKeyLength {
		return errorf(http.StatusBadRequest, "KeyTooLongError", key, "Your key is too long.")
	}
	return nil
}

func getBucket(tx store.ReadTx, name string) (*Bucket, error) {
	b, err := tx.Get(KindBucket, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, NoSuchBucket(name)
	}
	if err != nil {
		return nil, err
	}
	var bk Bucket
	if err := json.Unmarshal(b, &bk); err != nil {
		return nil, fmt.Errorf("decode bucket %s: %w", name, err)
	}
	return &bk, nil
}

// CreateBucket creates a bucket. Creating one that exists fails with
// BucketAlreadyOwnedByYou (kelb has one account).
func (s *Store) CreateBucket(ctx context.Context, name string) error {
	if err := CheckBucketName(name); err != nil {
		return err
	}
	return s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if _, err := getBucket(tx, name); err == nil {
			return errorf(http.StatusConflict, "BucketAlreadyOwnedByYou", "/"+name,
				"Your previous request to create the named bucket succeeded and you already own it.")
		} else if !isCode(err, "NoSuchBucket") {
			return err
		}
		all, err := tx.List(KindBucket)
		if err != nil {
			return err
		}
		if len(all) >= MaxBuckets {
			return errorf(http.StatusBadRequest, "TooManyBuckets", "/"+name, "You have attempted to create more buckets than allowed.")
		}
		b, err := json.Marshal(Bucket{Name: name, CreationDate: s.cfg.Now().UTC(), Region: s.cfg.Region})
		if err != nil {
			return err
		}
		return tx.Put(KindBucket, name, b)
	})
}

// DeleteBucket deletes an empty bucket.
func (s *Store) DeleteBucket(ctx context.Context, name string) error {
	return s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if _, err := getBucket(tx, name); err != nil {
			return err
		}
		objs, err := tx.List(KindObject)
		if err != nil {
			return err
		}
		for _, kv := range objs {
			if strings.HasPrefix(kv.Key, name+"/") {
				return errorf(http.StatusConflict, "BucketNotEmpty", "/"+name, "The bucket you tried to delete is not empty")
			}
		}
		return tx.Delete(KindBucket, name)
	})
}

// HeadBucket checks that a bucket exists.
func (s *Store) HeadBucket(ctx context.Context, name string) (Bucket, error) {
	var out Bucket
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		b, err := getBucket(tx, name)
		if err == nil {
			out = *b
		}
		return err
	})
	return out, err
}

// ListBuckets lists every bucket by name.
func (s *Store) ListBuckets(ctx context.Context) ([]Bucket, error) {
	var out []Bucket
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		kvs, err := tx.List(KindBucket)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			var b Bucket
			if err := json.Unmarshal(kv.Value, &b); err != nil {
				return fmt.Errorf("decode bucket %s: %w", kv.Key, err)
			}
			out = append(out, b)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// PutObjectInput is an object to store.
type PutObjectInput struct {
	Bucket, Key string
	Data        []byte
	ContentType string
}

// PutObject stores an object, replacing one with the same key.
func (s *Store) PutObject(ctx context.Context, in PutObjectInput) (Object, error) {
	if err := CheckKey(in.Key); err != nil {
		return Object{}, err
	}
	if len(in.Data) > MaxObjectSize {
		return Object{}, TooLarge(in.Bucket, in.Key)
	}
	sum := md5.Sum(in.Data)
	obj := Object{Bucket: in.Bucket, Key: in.Key, Data: in.Data, Size: int64(len(in.Data)), ContentType: in.ContentType,
		ETag: `"` + hex.EncodeToString(sum[:]) + `"`, LastModified: s.cfg.Now().UTC().Truncate(time.Second)}
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if _, err := getBucket(tx, in.Bucket); err != nil {
			return err
		}
		b, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		return tx.Put(KindObject, in.Bucket+"/"+in.Key, b)
	})
	if err != nil {
		return Object{}, err
	}
	return obj, nil
}

// TooLarge is the error for an object over MaxObjectSize.
func TooLarge(bucket, key string) *Error {
	return errorf(http.StatusBadRequest, "EntityTooLarge", "/"+bucket+"/"+key,
		"Your proposed upload exceeds the maximum allowed size of %d bytes on kelb.", MaxObjectSize)
}

// GetObject reads an object.
func (s *Store) GetObject(ctx context.Context, bucket, key string) (Object, error) {
	var out Object
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		o, err := ReadObject(tx, bucket, key, "")
		if err == nil {
			out = o
		}
		return err
	})
	return out, err
}

// ReadObject reads an object within tx. A version other than "" or
// NullVersion does not exist.
func ReadObject(tx store.ReadTx, bucket, key, version string) (Object, error) {
	if _, err := getBucket(tx, bucket); err != nil {
		return Object{}, err
	}
	if version != "" && version != NullVersion {
		return Object{}, errorf(http.StatusNotFound, "NoSuchVersion", "/"+bucket+"/"+key,
			"The specified version does not exist.")
	}
	b, err := tx.Get(KindObject, bucket+"/"+key)
	if errors.Is(err, store.ErrNotFound) {
		return Object{}, NoSuchKey(bucket, key)
	}
	if err != nil {
		return Object{}, err
	}
	var o Object
	if err := json.Unmarshal(b, &o); err != nil {
		return Object{}, fmt.Errorf("decode object %s/%s: %w", bucket, key, err)
	}
	return o, nil
}

// DeleteObject deletes an object; deleting one that does not exist
// succeeds, as on S3.
func (s *Store) DeleteObject(ctx context.Context, bucket, key string) error {
	return s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if _, err := getBucket(tx, bucket); err != nil {
			return err
		}
		if _, err := tx.Get(KindObject, bucket+"/"+key); errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return tx.Delete(KindObject, bucket+"/"+key)
	})
}

// ListObjects returns a bucket's objects whose keys start with prefix,
// sorted by key.
func (s *Store) ListObjects(ctx context.Context, bucket, prefix string) ([]Object, error) {
	var out []Object
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		if _, err := getBucket(tx, bucket); err != nil {
			return err
		}
		kvs, err := tx.List(KindObject)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			if !strings.HasPrefix(kv.Key, bucket+"/"+prefix) {
				continue
			}
			var o Object
			if err := json.Unmarshal(kv.Value, &o); err != nil {
				return fmt.Errorf("decode object %s: %w", kv.Key, err)
			}
			o.Data = nil
			out = append(out, o)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, err
}

func isCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

package elb

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/mtls"
	"github.com/kelb-io/kelb/internal/s3store"
)

// Trust stores hold the CA certificates and revocation lists that HTTPS
// listeners check client certificates against (mutual TLS). As on AWS,
// CreateTrustStore and ModifyTrustStore read the CA bundle from an S3
// object, and AddTrustStoreRevocations reads CRLs from S3 objects: here
// from kelb's own S3 (package s3store), inside the same transaction that
// writes the trust store. The bundle and each CRL are copied into the
// store (kinds truststore and truststorerevocation), so later changes to
// the objects change nothing until ModifyTrustStore. A bundle that is not
// PEM CA certificates fails with InvalidCaCertificatesBundle, a CRL that
// does not parse or is not signed by a CA of the trust store with
// InvalidRevocationContent; nothing is written then. A trust store is
// ACTIVE as soon as it exists.

// Store kinds of trust stores.
const (
	kindTrustStore           = "truststore"
	kindTrustStoreRevocation = "truststorerevocation"
)

// Limits of trust stores, AWS's default quotas.
const (
	MaxTrustStores              = 20
	MaxTrustStoreRevokedEntries = 500000
)

// Trust store error codes.
const (
	CodeTrustStoreNotFound             = "TrustStoreNotFound"
	CodeTrustStoreInUse                = "TrustStoreInUse"
	CodeInvalidCaCertificatesBundle    = "InvalidCaCertificatesBundle"
	CodeCaCertificatesBundleNotFound   = "CaCertificatesBundleNotFound"
	CodeInvalidRevocationContent       = "InvalidRevocationContent"
	CodeRevocationContentNotFound      = "RevocationContentNotFound"
	CodeRevocationIDNotFound           = "RevocationIdNotFound"
	CodeDuplicateTrustStoreName        = "DuplicateTrustStoreName"
	CodeTooManyTrustStores             = "TooManyTrustStores"
	CodeTooManyTrustStoreRevocations   = "TooManyTrustStoreRevocationEntries"
	CodeTrustStoreAssociationNotFound  = "AssociationNotFound"
	CodeDeleteAssociationSameAccount   = "DeleteAssociationSameAccount"
	TrustStoreStatusActive             = "ACTIVE"
	RevocationTypeCRL                  = "CRL"
	trustStoreDocumentBundle           = "ca-certificates-bundle"
	trustStoreDocumentRevocationPrefix = "revocations/"
)

// TrustStore is a trust store: its CA certificates bundle (PEM, as
// uploaded) and tags. Its revocations are stored apart.
type TrustStore struct {
	ARN                    string
	Name                   string
	Status                 string
	Bundle                 []byte
	NumberOfCaCertificates int32
	TotalRevokedEntries    int64
	NextRevocationID       int64
	Tags                   []Tag
}

// TrustStoreRevocation is one revocation list of a trust store.
type TrustStoreRevocation struct {
	TrustStoreARN          string
	RevocationID           int64
	RevocationType         string
	NumberOfRevokedEntries int64
	Content                []byte `json:",omitempty"`
}

// S3Object names an S3 object: a bundle or a revocation list.
type S3Object struct {
	Bucket, Key, Version string
}

// CreateTrustStoreInput is the input of CreateTrustStore.
type CreateTrustStoreInput struct {
	Name   string
	Bundle S3Object
	Tags   []Tag
}

// TrustStoreNotFound is the error for a trust store that does not exist.
func TrustStoreNotFound(arn string) error {
	return errorf(CodeTrustStoreNotFound, "Trust store '%s' not found", arn)
}

func getTrustStore(tx store.ReadTx, arn string) (*TrustStore, error) {
	return getJSON[TrustStore](tx, kindTrustStore, arn, TrustStoreNotFound(arn))
}

// readBundle reads and validates a CA bundle from kelb's S3.
func readBundle(tx store.ReadTx, obj S3Object) ([]byte, []*x509.Certificate, error) {
	o, err := s3store.ReadObject(tx, obj.Bucket, obj.Key, obj.Version)
	if err != nil {
		var serr *s3store.Error
		if errors.As(err, &serr) {
			return nil, nil, errorf(CodeCaCertificatesBundleNotFound, "The CA certificates bundle 's3://%s/%s' cannot be read: %s", obj.Bucket, obj.Key, serr.Message)
		}
		return nil, nil, err
	}
	cas, err := mtls.ParseBundle(o.Data)
	if err != nil {
		return nil, nil, errorf(CodeInvalidCaCertificatesBundle, "The CA certificates bundle 's3://%s/%s' is invalid: %v", obj.Bucket, obj.Key, err)
	}
	return o.Data, cas, nil
}

// CreateTrustStore creates a trust store from a CA bundle in S3.
func (s *Service) CreateTrustStore(ctx context.Context, in CreateTrustStoreInput) (TrustStore, error) {
	if err := validateName("Trust store", in.Name); err != nil {
		return TrustStore{}, fmt.Errorf("create trust store %s: %w", in.Name, err)
	}
	if err := checkNewTags(in.Tags); err != nil {
		return TrustStore{}, fmt.Errorf("create trust store %s: %w", in.Name, err)
	}
	var out TrustStore
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		all, err := listJSON[TrustStore](tx, kindTrustStore)
		if err != nil {
			return err
		}
		for _, ts := range all {
			if ts.Name == in.Name {
				return errorf(CodeDuplicateTrustStoreName, "A trust store with the name '%s' already exists", in.Name)
			}
		}
		if len(all) >= MaxTrustStores {
			return errorf(CodeTooManyTrustStores, "You have reached the limit of %d trust stores", MaxTrustStores)
		}
		bundle, cas, err := readBundle(tx, in.Bundle)
		if err != nil {
			return err
		}
		out = TrustStore{
			ARN: s.arn("truststore/" + in.Name + "/" + newID()), Name: in.Name, Status: TrustStoreStatusActive,
			Bundle: bundle, NumberOfCaCertificates: int32(len(cas)), NextRevocationID: 1, Tags: in.Tags,
		}
		return putJSON(tx, kindTrustStore, out.ARN, out)
	})
	if err != nil {
		return TrustStore{}, fmt.Errorf("create trust store %s: %w", in.Name, err)
	}
	return out, nil
}

// DescribeTrustStores returns the trust stores named by ARN or name, or
// all of them, sorted by name.
func (s *Service) DescribeTrustStores(ctx context.Context, arns, names []string) ([]TrustStore, error) {
	if len(arns) > 0 && len(names) > 0 {
		return nil, validationf("Trust store names and trust store ARNs cannot be specified at the same time")
	}
	var out []TrustStore
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		all, err := listJSON[TrustStore](tx, kindTrustStore)
		if err != nil {
			return err
		}
		switch {
		case len(arns) > 0:
			for _, arn := range arns {
				ts, ok := all[arn]
				if !ok {
					return TrustStoreNotFound(arn)
				}
				out = append(out, *ts)
			}
			return nil
		case len(names) > 0:
			var missing []string
			for _, n := range names {
				i := slices.IndexFunc(sortedValues(all, trustStoreName), func(ts *TrustStore) bool { return ts.Name == n })
				if i < 0 {
					missing = append(missing, n)
					continue
				}
				out = append(out, *sortedValues(all, trustStoreName)[i])
			}
			if len(missing) > 0 {
				return errorf(CodeTrustStoreNotFound, "Trust stores '[%s]' not found", strings.Join(missing, ", "))
			}
			return nil
		}
		for _, ts := range sortedValues(all, trustStoreName) {
			out = append(out, *ts)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe trust stores: %w", err)
	}
	return out, nil
}

func trustStoreName(ts *TrustStore) string { return ts.Name }

// ModifyTrustStore replaces a trust store's CA bundle with one from S3.
// Its revocations stay.
func (s *Service) ModifyTrustStore(ctx context.Context, arn string, bundle S3Object) (TrustStore, error) {
	var out TrustStore
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		ts, err := getTrustStore(tx, arn)
		if err != nil {
			return err
		}
		data, cas, err := readBundle(tx, bundle)
		if err != nil {
			return err
		}
		ts.Bundle, ts.NumberOfCaCertificates = data, int32(len(cas))
		out = *ts
		return putJSON(tx, kindTrustStore, arn, ts)
	})
	if err != nil {
		return TrustStore{}, fmt.Errorf("modify trust store %s: %w", arn, err)
	}
	return out, nil
}

// trustStoreUsers returns the load balancers whose listeners use trust
// store arn, sorted.
func trustStoreUsers(tx store.ReadTx, arn string) ([]string, error) {
	listeners, err := listJSON[Listener](tx, kindListener)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range listeners {
		if m := l.MutualAuthentication; m != nil && m.TrustStoreARN == arn && !slices.Contains(out, l.LoadBalancerARN) {
			out = append(out, l.LoadBalancerARN)
		}
	}
	slices.Sort(out)
	return out, nil
}

// DeleteTrustStore deletes a trust store no listener uses, with its
// revocations.
func (s *Service) DeleteTrustStore(ctx context.Context, arn string) error {
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if _, err := getTrustStore(tx, arn); err != nil {
			return err
		}
		users, err := trustStoreUsers(tx, arn)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return errorf(CodeTrustStoreInUse, "Trust store '%s' is currently in use by '%s'", arn, users[0])
		}
		revs, err := listRevocations(tx, arn)
		if err != nil {
			return err
		}
		for _, r := range revs {
			if err := tx.Delete(kindTrustStoreRevocation, revocationKey(arn, r.RevocationID)); err != nil {
				return err
			}
		}
		return tx.Delete(kindTrustStore, arn)
	})
	if err != nil {
		return fmt.Errorf("delete trust store %s: %w", arn, err)
	}
	return nil
}

func revocationKey(arn string, id int64) string { return arn + "/" + strconv.FormatInt(id, 10) }

// listRevocations returns a trust store's revocations by id.
func listRevocations(tx store.ReadTx, arn string) ([]TrustStoreRevocation, error) {
	all, err := listJSON[TrustStoreRevocation](tx, kindTrustStoreRevocation)
	if err != nil {
		return nil, err
	}
	var out []TrustStoreRevocation
	for _, r := range all {
		if r.TrustStoreARN == arn {
			out = append(out, *r)
		}
	}
	slices.SortFunc(out, func(a, b TrustStoreRevocation) int { return int(a.RevocationID - b.RevocationID) })
	return out, nil
}

// RevocationInput is one revocation list to add.
type RevocationInput struct {
	Object S3Object
	Type   string
}

// AddTrustStoreRevocations adds revocation lists read from S3 to a trust
// store; all of them are checked before any is added.
func (s *Service) AddTrustStoreRevocations(ctx context.Context, arn string, in []RevocationInput) ([]TrustStoreRevocation, error) {
	var out []TrustStoreRevocation
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		out = nil
		ts, err := getTrustStore(tx, arn)
		if err != nil {
			return err
		}
		cas, err := mtls.ParseBundle(ts.Bundle)
		if err != nil {
			return fmt.Errorf("stored bundle of %s: %w", arn, err)
		}
		for _, rc := range in {
			if rc.Type == "" {
				rc.Type = RevocationTypeCRL
			}
			if rc.Type != RevocationTypeCRL {
				return validationf("Revocation type '%s' is not supported", rc.Type)
			}
			o, err := s3store.ReadObject(tx, rc.Object.Bucket, rc.Object.Key, rc.Object.Version)
			if err != nil {
				var serr *s3store.Error
				if errors.As(err, &serr) {
					return errorf(CodeRevocationContentNotFound, "The revocation file 's3://%s/%s' cannot be read: %s", rc.Object.Bucket, rc.Object.Key, serr.Message)
				}
				return err
			}
			crl, err := mtls.ParseCRL(o.Data, cas)
			if err != nil {
				return errorf(CodeInvalidRevocationContent, "The revocation file 's3://%s/%s' is invalid: %v", rc.Object.Bucket, rc.Object.Key, err)
			}
			r := TrustStoreRevocation{TrustStoreARN: arn, RevocationID: ts.NextRevocationID, RevocationType: rc.Type,
				NumberOfRevokedEntries: int64(len(crl.RevokedCertificateEntries)), Content: o.Data}
			ts.NextRevocationID++
			ts.TotalRevokedEntries += r.NumberOfRevokedEntries
			if ts.TotalRevokedEntries > MaxTrustStoreRevokedEntries {
				return errorf(CodeTooManyTrustStoreRevocations, "Trust store '%s' would have more than %d revoked entries", arn, MaxTrustStoreRevokedEntries)
			}
			if err := putJSON(tx, kindTrustStoreRevocation, revocationKey(arn, r.RevocationID), r); err != nil {
				return err
			}
			r.Content = nil
			out = append(out, r)
		}
		return putJSON(tx, kindTrustStore, arn, ts)
	})
	if err != nil {
		return nil, fmt.Errorf("add trust store revocations to %s: %w", arn, err)
	}
	return out, nil
}

func revocationIDNotFound(id int64) error {
	return errorf(CodeRevocationIDNotFound, "Revocation ID '%d' not found", id)
}

// DescribeTrustStoreRevocations returns a trust store's revocations, those
// of ids or all, without their content.
func (s *Service) DescribeTrustStoreRevocations(ctx context.Context, arn string, ids []int64) ([]TrustStoreRevocation, error) {
	var out []TrustStoreRevocation
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		if _, err := getTrustStore(tx, arn); err != nil {
			return err
		}
		revs, err := listRevocations(tx, arn)
		if err != nil {
			return err
		}
		for i := range revs {
			revs[i].Content = nil
		}
		if len(ids) == 0 {
			out = revs
			return nil
		}
		for _, id := range ids {
			i := slices.IndexFunc(revs, func(r TrustStoreRevocation) bool { return r.RevocationID == id })
			if i < 0 {
				return revocationIDNotFound(id)
			}
			out = append(out, revs[i])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe trust store revocations of %s: %w", arn, err)
	}
	return out, nil
}

// RemoveTrustStoreRevocations removes revocations from a trust store; all
// ids must exist.
func (s *Service) RemoveTrustStoreRevocations(ctx context.Context, arn string, ids []int64) error {
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		ts, err := getTrustStore(tx, arn)
		if err != nil {
			return err
		}
		for _, id := range ids {
			r, err := getJSON[TrustStoreRevocation](tx, kindTrustStoreRevocation, revocationKey(arn, id), revocationIDNotFound(id))
			if err != nil {
				return err
			}
			ts.TotalRevokedEntries -= r.NumberOfRevokedEntries
			if err := tx.Delete(kindTrustStoreRevocation, revocationKey(arn, id)); err != nil {
				return err
			}
		}
		return putJSON(tx, kindTrustStore, arn, ts)
	})
	if err != nil {
		return fmt.Errorf("remove trust store revocations of %s: %w", arn, err)
	}
	return nil
}

// CheckTrustStore fails with TrustStoreNotFound for a trust store that
// does not exist.
func (s *Service) CheckTrustStore(ctx context.Context, arn string) error {
	return s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		_, err := getTrustStore(tx, arn)
		return err
	})
}

// CheckTrustStoreRevocation fails with TrustStoreNotFound or
// RevocationIdNotFound for a revocation that does not exist.
func (s *Service) CheckTrustStoreRevocation(ctx context.Context, arn string, id int64) error {
	return s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		if _, err := getTrustStore(tx, arn); err != nil {
			return err
		}
		_, err := getJSON[TrustStoreRevocation](tx, kindTrustStoreRevocation, revocationKey(arn, id), revocationIDNotFound(id))
		return err
	})
}

// DescribeTrustStoreAssociations returns the load balancers whose
// listeners use a trust store.
func (s *Service) DescribeTrustStoreAssociations(ctx context.Context, arn string) ([]string, error) {
	var out []string
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		if _, err := getTrustStore(tx, arn); err != nil {
			return err
		}
		var err error
		out, err = trustStoreUsers(tx, arn)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("describe trust store associations of %s: %w", arn, err)
	}
	return out, nil
}

// DeleteSharedTrustStoreAssociation answers as AWS does for an
// association within one account: kelb has one account, so every
// association is its own (DeleteAssociationSameAccount), or there is none.
func (s *Service) DeleteSharedTrustStoreAssociation(ctx context.Context, arn, resource string) error {
	users, err := s.DescribeTrustStoreAssociations(ctx, arn)
	if err != nil {
		return err
	}
	if !slices.Contains(users, resource) {
		return errorf(CodeTrustStoreAssociationNotFound, "Association between trust store '%s' and resource '%s' not found", arn, resource)
	}
	return errorf(CodeDeleteAssociationSameAccount, "Trust store '%s' and resource '%s' belong to the same account: delete the listener's mutual authentication instead", arn, resource)
}

// TrustStoreDocumentPath returns the path (below the S3 API's document
// prefix) of a trust store's CA bundle, or of its revocation id when id
// is not zero.
func TrustStoreDocumentPath(arn string, id int64) string {
	res := arn[strings.LastIndex(arn, ":")+1:] // truststore/<name>/<id>
	if id == 0 {
		return res + "/" + trustStoreDocumentBundle
	}
	return res + "/" + trustStoreDocumentRevocationPrefix + strconv.FormatInt(id, 10)
}

// TrustStoreDocument serves the documents of TrustStoreDocumentPath: a
// CA bundle (application/x-pem-file) or a revocation list
// (application/pkix-crl, as uploaded).
func (s *Service) TrustStoreDocument(ctx context.Context, path string) ([]byte, string, error) {
	parts := strings.Split(path, "/")
	notFound := s3store.NoSuchKey("_kelb", path)
	if len(parts) < 4 || parts[0] != "truststore" {
		return nil, "", notFound
	}
	arn := s.arn(strings.Join(parts[:3], "/"))
	var data []byte
	ct := "application/x-pem-file"
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		ts, err := getTrustStore(tx, arn)
		if err != nil {
			return notFound
		}
		rest := strings.Join(parts[3:], "/")
		if rest == trustStoreDocumentBundle {
			data = ts.Bundle
			return nil
		}
		id, err := strconv.ParseInt(strings.TrimPrefix(rest, trustStoreDocumentRevocationPrefix), 10, 64)
		if err != nil || !strings.HasPrefix(rest, trustStoreDocumentRevocationPrefix) {
			return notFound
		}
		r, err := getJSON[TrustStoreRevocation](tx, kindTrustStoreRevocation, revocationKey(arn, id), notFound)
		if err != nil {
			return err
		}
		data, ct = r.Content, "application/pkix-crl"
		return nil
	})
	return data, ct, err
}

// TrustStoreMaterial is what the data plane needs of a trust store.
type TrustStoreMaterial struct {
	ARN         string
	Bundle      []byte
	Revocations [][]byte
}

// TrustStoreMaterials returns the bundles and revocation lists of the
// trust stores listeners use, read within tx, by ARN.
func TrustStoreMaterials(tx store.ReadTx) (map[string]TrustStoreMaterial, error) {
	all, err := listJSON[TrustStore](tx, kindTrustStore)
	if err != nil {
		return nil, err
	}
	revs, err := listJSON[TrustStoreRevocation](tx, kindTrustStoreRevocation)
	if err != nil {
		return nil, err
	}
	out := make(map[string]TrustStoreMaterial, len(all))
	for arn, ts := range all {
		out[arn] = TrustStoreMaterial{ARN: arn, Bundle: ts.Bundle}
	}
	for _, key := range sortedKeys(revs) {
		r := revs[key]
		if m, ok := out[r.TrustStoreARN]; ok {
			m.Revocations = append(m.Revocations, r.Content)
			out[r.TrustStoreARN] = m
		}
	}
	return out, nil
}

func sortedKeys[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

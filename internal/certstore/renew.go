package certstore

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// Renew issues certificate arn again under the same ARN: a new key of the
// same algorithm and a new certificate for the same names, valid for
// Validity from now. Its tags, CreatedAt and validation options stay; the
// listeners that use it serve the new certificate at their next
// configuration pass. Only AMAZON_ISSUED certificates renew: an imported
// one is renewed by importing it again.
func (s *Store) Renew(ctx context.Context, arn string) (Certificate, error) {
	var old Certificate
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		var err error
		old, err = getMeta(tx, arn)
		return err
	})
	if err != nil {
		return Certificate{}, err
	}
	if old.Kind() != TypeAmazonIssued {
		return Certificate{}, errorf(CodeValidation, "Certificate ARN: %s is not eligible for renewal: only certificates issued by ACM renew; import an imported certificate again", arn)
	}
	ca, err := s.Authority(ctx)
	if err != nil {
		return Certificate{}, err
	}
	now := s.cfg.Now().UTC()
	fresh, err := issue(ca, old.SubjectAlternativeNames, old.KeyAlgorithm, now)
	if err != nil {
		return Certificate{}, err
	}
	var out Certificate
	err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		cur, err := getMeta(tx, arn)
		if err != nil {
			return err
		}
		c := fresh
		c.ARN, c.Type, c.CreatedAt, c.IssuedAt = arn, TypeAmazonIssued, cur.CreatedAt, now
		c.DomainName, c.SubjectAlternativeNames = cur.DomainName, cur.SubjectAlternativeNames
		c.DomainValidations, c.IdempotencyToken, c.Export, c.Exported, c.Tags = cur.DomainValidations, cur.IdempotencyToken, cur.Export, cur.Exported, cur.Tags
		c.RenewalStatus, c.RenewedAt = "SUCCESS", now
		b, err := s.encode(c)
		if err != nil {
			return err
		}
		out = c
		return tx.Put(Kind, arn, b)
	})
	if err != nil {
		return Certificate{}, fmt.Errorf("renew certificate %s: %w", arn, err)
	}
	return out, nil
}

// RenewDue renews every AMAZON_ISSUED certificate that expires within
// RenewBefore, and returns the ARNs it renewed. It goes on past a
// certificate that fails and returns the first error with them.
func (s *Store) RenewDue(ctx context.Context) ([]string, error) {
	all, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	var renewed []string
	var firstErr error
	for _, c := range all {
		if c.Kind() != TypeAmazonIssued || c.NotAfter.Sub(now) > RenewBefore {
			continue
		}
		if _, err := s.Renew(ctx, c.ARN); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		renewed = append(renewed, c.ARN)
	}
	return renewed, firstErr
}

// RunRenewal calls RenewDue at once and then every interval until ctx
// ends, logging what it renewed and what failed. Every kelb server of a
// fleet may run it: a certificate two renew at once is renewed twice, the
// last write wins, and both certificates are valid.
func (s *Store) RunRenewal(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		renewed, err := s.RenewDue(ctx)
		for _, arn := range renewed {
			log.Info("renewed certificate", "certificate", arn)
		}
		if err != nil && ctx.Err() == nil {
			log.Error("renew certificates", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

package elb

import (
	"context"
	"fmt"
	"slices"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// secureListener returns listener arn, checking it is an HTTPS or TLS
// listener that can hold certificates.
func secureListener(tx store.ReadTx, arn string) (*Listener, error) {
	l, err := getListener(tx, arn)
	if err != nil {
		return nil, err
	}
	if l.Protocol != "HTTPS" && l.Protocol != "TLS" {
		return nil, errorf(CodeInvalidConfigurationRequest, "Listener '%s' is a %s listener and cannot have certificates", arn, l.Protocol)
	}
	return l, nil
}

// AddListenerCertificates adds certificates to the certificate list of an
// HTTPS or TLS listener, for SNI. The default certificate is set with
// CreateListener or ModifyListener, never here. Certificates the listener
// has already are left as they are. It returns the added certificates.
func (s *Service) AddListenerCertificates(ctx context.Context, listenerARN string, certs []Certificate) ([]Certificate, error) {
	if len(certs) == 0 {
		return nil, validationf("At least one certificate must be specified")
	}
	var out []Certificate
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		l, err := secureListener(tx, listenerARN)
		if err != nil {
			return err
		}
		for _, c := range certs {
			if c.ARN == "" {
				return errorf(CodeCertificateNotFound, "Certificate ARN cannot be empty")
			}
			if c.IsDefault {
				return errorf(CodeInvalidConfigurationRequest, "The default certificate of a listener can only be set with CreateListener or ModifyListener")
			}
		}
		if err := checkCertificatesExist(tx, certs); err != nil {
			return err
		}
		for _, c := range certs {
			out = append(out, Certificate{ARN: c.ARN})
			if slices.ContainsFunc(l.Certificates, func(have Certificate) bool { return have.ARN == c.ARN }) {
				continue
			}
			l.Certificates = append(l.Certificates, Certificate{ARN: c.ARN})
		}
		if len(l.Certificates) > MaxCertificatesPerListener {
			return errorf("TooManyCertificates", "A listener can have at most %d certificates", MaxCertificatesPerListener)
		}
		if err := putJSON(tx, kindListener, l.ARN, l); err != nil {
			return err
		}
		return checkLoadBalancerQuotas(tx, l.LoadBalancerARN)
	})
	if err != nil {
		return nil, fmt.Errorf("add listener certificates to %s: %w", listenerARN, err)
	}
	return out, nil
}

// RemoveListenerCertificates removes certificates from the certificate list
// of an HTTPS or TLS listener. The default certificate cannot be removed;
// certificates the listener does not have are ignored.
func (s *Service) RemoveListenerCertificates(ctx context.Context, listenerARN string, certs []Certificate) error {
	if len(certs) == 0 {
		return validationf("At least one certificate must be specified")
	}
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		l, err := secureListener(tx, listenerARN)
		if err != nil {
			return err
		}
		for _, c := range certs {
			i := slices.IndexFunc(l.Certificates, func(have Certificate) bool { return have.ARN == c.ARN })
			if i < 0 {
				continue
			}
			if l.Certificates[i].IsDefault {
				return errorf(CodeOperationNotPermitted, "The default certificate '%s' cannot be removed from listener '%s'", c.ARN, l.ARN)
			}
			l.Certificates = slices.Delete(l.Certificates, i, i+1)
		}
		return putJSON(tx, kindListener, l.ARN, l)
	})
	if err != nil {
		return fmt.Errorf("remove listener certificates from %s: %w", listenerARN, err)
	}
	return nil
}

// describedCertificates lists a listener's certificates as ELBv2 does:
// the default certificate first with IsDefault true, then the certificate
// list, of which the default certificate is a member, with IsDefault false
// (so the default certificate appears twice).
func describedCertificates(certs []Certificate) []Certificate {
	var out []Certificate
	for _, c := range certs {
		if c.IsDefault {
			out = append(out, c)
		}
	}
	for _, c := range certs {
		out = append(out, Certificate{ARN: c.ARN})
	}
	return out
}

// DescribeListenerCertificates returns every certificate of a listener,
// the default one first with IsDefault set.
func (s *Service) DescribeListenerCertificates(ctx context.Context, listenerARN string) ([]Certificate, error) {
	var out []Certificate
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		l, err := getListener(tx, listenerARN)
		if err != nil {
			return err
		}
		out = describedCertificates(l.Certificates)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe listener certificates of %s: %w", listenerARN, err)
	}
	return out, nil
}

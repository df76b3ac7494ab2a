package elb

import (
	"slices"

	"github.com/kelb-io/kelb/internal/certstore"
	"github.com/kelb-io/kelb/internal/elb/store"
)

// MaxCertificatesPerListener is the number of certificates, the default
// one included, an HTTPS or TLS listener may have.
const MaxCertificatesPerListener = 26

// checkCertificatesExist fails with CertificateNotFound for a certificate
// ARN the certificate store does not hold.
func checkCertificatesExist(tx store.ReadTx, certs []Certificate) error {
	for _, c := range certs {
		ok, err := certstore.Exists(tx, c.ARN)
		if err != nil {
			return err
		}
		if !ok {
			return errorf(CodeCertificateNotFound, "Certificate '%s' not found", c.ARN)
		}
	}
	return nil
}

// CertificateUsers returns the ARNs of the load balancers whose listeners
// use certificate arn, sorted, read within tx. The certificate store asks
// it before deleting a certificate.
func CertificateUsers(tx store.ReadTx, arn string) ([]string, error) {
	listeners, err := listJSON[Listener](tx, kindListener)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range listeners {
		if slices.ContainsFunc(l.Certificates, func(c Certificate) bool { return c.ARN == arn }) && !slices.Contains(out, l.LoadBalancerARN) {
			out = append(out, l.LoadBalancerARN)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Package certificates gives kelb controller's front-ends (Ingress and
// Service) the certificates their TLS listeners name: SecretCertificates
// imports Kubernetes TLS Secrets into kelb server's certificate store
// through its ACM-compatible API and resolves them to certificate ARNs.
// Discovery finds the ISSUED certificates whose names cover a listener's
// hosts, as the AWS Load Balancer Controller's certificate discovery does
// (every covering certificate, a wildcard covering exactly one label).
// Requested keeps the certificates the controller has kelb server issue
// (create-acm-cert), found again by their tags on every call.
//
// Failure behaviour: a Secret that is missing, has no tls.key or no PEM
// certificate in tls.crt, or that kelb server refuses to import, is an
// error naming the Secret; the caller reports it on its object and
// changes nothing already deployed. Deleting a certificate a listener
// still uses is refused by kelb server and tried again later. A host no
// ISSUED certificate covers is a *NoCertificateError naming the host; the
// Ingress controller resolves certificates before it changes anything, so
// the listener keeps serving what it served.
package certificates

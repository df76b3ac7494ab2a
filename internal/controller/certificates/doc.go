// Package certificates gives kelb controller's front-ends (Ingress and
// Service) the certificates their TLS listeners name: SecretCertificates
// imports Kubernetes TLS Secrets into kelb server's certificate store
// through its ACM-compatible API and resolves them to certificate ARNs.
//
// Failure behaviour: a Secret that is missing, has no tls.key or no PEM
// certificate in tls.crt, or that kelb server refuses to import, is an
// error naming the Secret; the caller reports it on its object and
// changes nothing already deployed. Deleting a certificate a listener
// still uses is refused by kelb server and tried again later.
package certificates

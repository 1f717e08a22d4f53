// Package pki makes throwaway certificate authorities for tests, the demo
// and benchmarks: a CA (ECDSA P-256, valid for Validity) that issues TLS
// server and client certificates, with helpers to turn them into tls.Config
// values or PEM files.
//
// Nothing here is fit for production: keys live in memory or in files the
// caller names, and nothing is ever revoked. It imports no testing package,
// so `kubedag demo` and `kubedag bench` can use it too.
//
// # Usage
//
//	ca, err := pki.NewCA("kubedag test CA")
//	srv, err := ca.Server("aggregator.test", []string{"aggregator.test"}, []net.IP{net.IPv4(127, 0, 0, 1)})
//	serverTLS, err := srv.ServerTLS()
//	clientTLS := ca.ClientTLS("aggregator.test")
//
// A client certificate for an apiserver maps CN to the user and each O to a
// group: ca.Client("kubedag-admin", "system:masters").
package pki

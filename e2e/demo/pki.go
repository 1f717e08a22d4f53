package demo

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/kubedag/kubedag/e2e/pki"
)

// streamServerName is the name agents verify in the aggregator's stream
// certificate: the Service DNS name the Helm chart uses.
const streamServerName = "kubedag-aggregator.kubedag.svc"

// streamPKI makes a throwaway CA and an aggregator stream server
// certificate it signs (for streamServerName and 127.0.0.1). It returns the
// CA certificate as PEM and the server TLS config.
func streamPKI() (caPEM []byte, server *tls.Config, err error) {
	ca, err := pki.NewCA("kubedag demo stream CA")
	if err != nil {
		return nil, nil, fmt.Errorf("stream CA: %w", err)
	}
	kp, err := ca.Server(streamServerName, []string{streamServerName}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, nil, fmt.Errorf("stream server certificate: %w", err)
	}
	server, err = kp.ServerTLS()
	if err != nil {
		return nil, nil, fmt.Errorf("stream server certificate: %w", err)
	}
	return ca.CertPEM(), server, nil
}

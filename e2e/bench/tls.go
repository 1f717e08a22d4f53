package bench

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/kubedag/kubedag/e2e/pki"
)

// streamServerName is the name in the aggregator's bench certificate.
const streamServerName = "aggregator.kubedag.bench"

// streamTLS makes a throwaway CA and an aggregator server certificate it
// signs (for streamServerName and 127.0.0.1), and the matching client
// configuration.
func streamTLS() (server, client *tls.Config, err error) {
	ca, err := pki.NewCA("kubedag bench CA")
	if err != nil {
		return nil, nil, err
	}
	kp, err := ca.Server(streamServerName, []string{streamServerName}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, nil, fmt.Errorf("server certificate: %w", err)
	}
	if server, err = kp.ServerTLS(); err != nil {
		return nil, nil, fmt.Errorf("server certificate: %w", err)
	}
	return server, ca.ClientTLS(streamServerName), nil
}

package awssim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// EKS speaks REST-JSON: the operation is the method and path, errors are
// named by the X-Amzn-ErrorType header.

// describeCluster answers EKS's REST-JSON GET /clusters/{name}.
func (s *Server) describeCluster(c *call) ([]byte, *apiError) {
	name := strings.TrimPrefix(c.path, "/clusters/")
	cl := c.model.Clusters[name]
	if cl == nil {
		return nil, &apiError{status: 404, code: "ResourceNotFoundException", msg: fmt.Sprintf("No cluster found for name: %s.", name), fields: map[string]string{"clusterName": name}}
	}
	status, family := cl.Status, cl.IPFamily
	if status == "" {
		status = "ACTIVE"
	}
	if family == "" {
		family = "ipv4"
	}
	arn := fmt.Sprintf("arn:aws:eks:%s:%s:cluster/%s", s.region, Account, name)
	id := clusterID(arn)
	network := map[string]any{"serviceIpv4Cidr": "172.20.0.0/16", "ipFamily": family, "elasticLoadBalancing": map[string]any{"enabled": false}}
	if family == "ipv6" {
		network = map[string]any{"serviceIpv6Cidr": "fd" + strings.ToLower(id[:2]) + ":" + strings.ToLower(id[2:6]) + ":" + strings.ToLower(id[6:10]) + "::/108",
			"ipFamily": family, "elasticLoadBalancing": map[string]any{"enabled": false}}
	}
	// What `aws eks update-kubeconfig` and IRSA set-ups read: a stable
	// endpoint, the cluster CA and the OIDC issuer.
	out := map[string]any{"cluster": map[string]any{
		"name":      name,
		"arn":       arn,
		"createdAt": 1767323045.0,
		"version":   "1.34",
		"endpoint":  "https://" + id + ".gr7." + s.region + ".eks.amazonaws.com",
		"roleArn":   "arn:aws:iam::" + Account + ":role/" + name + "-cluster",
		"resourcesVpcConfig": map[string]any{
			"subnetIds":              append([]string{}, cl.SubnetIDs...),
			"securityGroupIds":       []string{},
			"clusterSecurityGroupId": "sg-0sim" + name,
			"vpcId":                  cl.VPC,
			"endpointPublicAccess":   false,
			"endpointPrivateAccess":  true,
			"publicAccessCidrs":      []string{},
		},
		"kubernetesNetworkConfig": network,
		"logging": map[string]any{"clusterLogging": []any{map[string]any{
			"types": []string{"api", "audit", "authenticator", "controllerManager", "scheduler"}, "enabled": false}}},
		"identity":             map[string]any{"oidc": map[string]any{"issuer": "https://oidc.eks." + s.region + ".amazonaws.com/id/" + id}},
		"status":               status,
		"certificateAuthority": map[string]any{"data": s.clusterCA(arn)},
		"platformVersion":      "eks.1",
		"tags":                 map[string]string{},
		"health":               map[string]any{"issues": []any{}},
		"accessConfig":         map[string]any{"authenticationMode": "API_AND_CONFIG_MAP"},
		"upgradePolicy":        map[string]any{"supportType": "STANDARD"},
	}}
	b, _ := json.Marshal(out)
	return b, nil
}

// listClusters answers GET /clusters: names in order, maxResults (1-100,
// default 100) per page and an opaque nextToken while more remain.
func listClusters(c *call) ([]byte, *apiError) {
	size := 100
	if v := c.query.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return nil, &apiError{status: 400, code: "InvalidParameterException", msg: "maxResults must be between 1 and 100"}
		}
		size = n
	}
	names := sortedKeys(c.model.Clusters)
	c.pageSize, c.form = size, c.query
	got, next, err := page(c, names, "nextToken", "", 1, 100)
	if err != nil {
		return nil, &apiError{status: 400, code: "InvalidParameterException", msg: "The nextToken provided is invalid"}
	}
	out := map[string]any{"clusters": append([]string{}, got...)}
	if next != "" {
		out["nextToken"] = next
	}
	b, _ := json.Marshal(out)
	return b, nil
}

// clusterID is the 32 hex digits of a cluster's endpoint and OIDC issuer,
// stable for its ARN as AWS's are for a cluster.
func clusterID(arn string) string {
	sum := sha256.Sum256([]byte(arn))
	return strings.ToUpper(hex.EncodeToString(sum[:16]))
}

// clusterCA is the base64 PEM of the cluster's CA certificate, as
// certificateAuthority.data carries it: a self-signed certificate made once
// per cluster ARN; called with s.mu held.
func (s *Server) clusterCA(arn string) string {
	if ca, ok := s.cas[arn]; ok {
		return ca
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return ""
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes"},
		NotBefore: time.Unix(1767323045, 0), NotAfter: time.Unix(1767323045, 0).AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return ""
	}
	ca := base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	s.cas[arn] = ca
	return ca
}

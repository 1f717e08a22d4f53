package awssim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
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
	out := map[string]any{"cluster": map[string]any{
		"name":      name,
		"arn":       arn,
		"createdAt": 1767323045.0,
		"version":   "1.34",
		"endpoint":  "https://" + strings.ToUpper(newKey("", 32)) + ".gr7." + s.region + ".eks.amazonaws.com",
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
		"kubernetesNetworkConfig": map[string]any{"serviceIpv4Cidr": "172.20.0.0/16", "ipFamily": family},
		"status":                  status,
		"platformVersion":         "eks.1",
		"tags":                    map[string]string{},
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

// Package config reads and validates the aggregator's YAML configuration
// file: the cluster name, the tag policy and the PAN-OS targets with where
// their credentials come from.
//
// Example:
//
//	cluster: prod
//	tags:
//	  preset: k8s            # k8s | aks | custom
//	  prefix: ""             # default derived from preset and cluster
//	  template: ""           # preset custom only
//	  labels:
//	    allow: ["app", "app.kubernetes.io/*"]
//	    deny: ["pod-template-hash"]
//	  pods: true
//	  services: true
//	  namespaceTags: true
//	targets:
//	  - name: fw1
//	    url: https://10.0.0.1
//	    kind: firewall        # firewall | panorama
//	    vsys: vsys1
//	    apiKeyFile: /etc/kubedag/targets/fw1/api-key
//	    caFile: /etc/kubedag/targets/fw1/ca.crt
//	batchInterval: 50ms
//	maxBatch: 1000
//	resyncInterval: 5m
//	tagTTL: 1h
//	sandwich:                 # EKS load-balancer sandwich (optional)
//	  enabled: true
//	  labelKey: panw-tg-port
//	  targets: [fw1]          # names from targets:
//	  admin: kubedag          # PAN-OS admin whose changes are committed (default: the target's username)
//	  ruleLocation: {where: bottom}   # top | bottom | before/after + rule
//	  virtualRouter: default  # or logicalRouter + vrf (advanced routing)
//	  untrustInterface: ethernet1/1
//	  trustInterface: ethernet1/2
//	  untrustZone: untrust
//	  trustZone: trust
//	  deviceGroup: ""         # panorama targets: deviceGroup + template or templateStack
//	  inventory:
//	    subnets: [{id: subnet-a, cidr: 10.0.0.0/19, zone: us-east-1a}]
//	    firewalls: [{id: fw-a, zone: us-east-1a, trustSubnet: 10.0.128.0/24}]
//
// Unknown fields are errors, and every error names the field at fault, so a
// typo fails at start instead of being ignored. Credentials are never in the
// file itself: each target names files (mounted Secrets) or environment
// variables that hold them.
package config

// Package kube is the Kubernetes side of the sandwich: it watches Services
// labelled for the firewall set (label panw-tg-port by default, as the
// Panorama AWS plugin), checks them (a port, an internal NLB, an ILB
// hostname, one Service per firewall port), hands the good ones to the
// sandwich engine, and reports every problem, the engine's included, as a
// Kubernetes Event on the Service.
package kube

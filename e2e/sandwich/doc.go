// Package sandwich is the end-to-end test of the EKS load-balancer
// sandwich built from AWS discovery: labelled Services on a real
// kube-apiserver (e2e/cluster), the sandwich/kube watcher, the firewall
// engine, AWS discovery through the real aws-sdk-go-v2 clients against the
// local AWS endpoint (sandwich/aws/awssim), and the PAN-OS emulator as the
// firewall. It checks what the firewall ends up holding: NAT rules,
// objects and routes; ILBs that are not internal NLBs, or not (yet) known
// to AWS, reported and programmed once they exist; a subnet added in "AWS"
// gaining its routes and outbound NAT; an AWS outage changing nothing on
// the firewall.
package sandwich

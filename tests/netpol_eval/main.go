// Command netpol-eval answers, with the NetworkPolicy engine of cyclonus
// (github.com/mattfenwick/cyclonus/pkg/matcher), whether each flow of a truth table is
// allowed by a set of NetworkPolicies. It exists so the tests judge the policies gitops
// renders with an evaluator written by someone else.
//
// Input on stdin (JSON):
//
//	{"policies": [<networking.k8s.io/v1 NetworkPolicy>...],
//	 "flows": [{"source": <peer>, "destination": <peer>,
//	            "port": 8000, "portName": "http", "protocol": "TCP"}]}
//
// where a peer is {"namespace": "ns", "namespaceLabels": {...}, "podLabels": {...}}
// for a pod, or {"ip": "203.0.113.7"} for an address outside the cluster.
// Output on stdout: {"allowed": [true, false, ...]}, one verdict per flow, in order.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

type peer struct {
	Namespace       string            `json:"namespace"`
	NamespaceLabels map[string]string `json:"namespaceLabels"`
	PodLabels       map[string]string `json:"podLabels"`
	IP              string            `json:"ip"`
}

type flow struct {
	Source      peer   `json:"source"`
	Destination peer   `json:"destination"`
	Port        int    `json:"port"`
	PortName    string `json:"portName"`
	Protocol    string `json:"protocol"`
}

type input struct {
	Policies []*networkingv1.NetworkPolicy `json:"policies"`
	Flows    []flow                        `json:"flows"`
}

func trafficPeer(p peer) *matcher.TrafficPeer {
	if p.Namespace == "" {
		return &matcher.TrafficPeer{IP: p.IP}
	}
	labels := map[string]string{"kubernetes.io/metadata.name": p.Namespace}
	for k, v := range p.NamespaceLabels {
		labels[k] = v
	}
	ip := p.IP
	if ip == "" {
		ip = "10.244.0.1" // a pod address; ipBlock rules in these tests never name pod CIDRs
	}
	return &matcher.TrafficPeer{
		IP: ip,
		Internal: &matcher.InternalPeer{
			Namespace:       p.Namespace,
			NamespaceLabels: labels,
			PodLabels:       p.PodLabels,
		},
	}
}

func main() {
	var in input
	decoder := json.NewDecoder(os.Stdin)
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&in); err != nil {
		fmt.Fprintf(os.Stderr, "netpol-eval: invalid input: %v\n", err)
		os.Exit(2)
	}
	policy := matcher.BuildNetworkPolicies(false, in.Policies)
	allowed := make([]bool, len(in.Flows))
	for i, f := range in.Flows {
		protocol := v1.Protocol(f.Protocol)
		if protocol == "" {
			protocol = v1.ProtocolTCP
		}
		traffic := &matcher.Traffic{
			Source:           trafficPeer(f.Source),
			Destination:      trafficPeer(f.Destination),
			ResolvedPort:     f.Port,
			ResolvedPortName: f.PortName,
			Protocol:         protocol,
		}
		allowed[i] = policy.IsTrafficAllowed(traffic).IsAllowed()
	}
	if err := json.NewEncoder(os.Stdout).Encode(map[string][]bool{"allowed": allowed}); err != nil {
		fmt.Fprintf(os.Stderr, "netpol-eval: %v\n", err)
		os.Exit(2)
	}
}

package panossim

import (
	"net/http"
	"strings"
)

// configTrees is the candidate and the running configuration.
type configTrees struct {
	candidate, running *node
}

const firewallConfig = `<config version="11.1.0"><mgt-config><users><entry name="admin"/></users></mgt-config><shared/>` +
	`<devices><entry name="localhost.localdomain"><deviceconfig><system><hostname>panos-sim</hostname></system></deviceconfig>` +
	`<network><virtual-router><entry name="default"/></virtual-router></network>` +
	`<vsys><entry name="vsys1"><address/><service/><rulebase/></entry></vsys></entry></devices></config>`

const panoramaConfig = `<config version="11.1.0"><mgt-config><users><entry name="admin"/></users></mgt-config><shared/>` +
	`<devices><entry name="localhost.localdomain"><device-group/><template/></entry></devices></config>`

func newConfigTrees(panorama bool) configTrees {
	src := firewallConfig
	if panorama {
		src = panoramaConfig
	}
	nodes, err := parseNodes(src)
	if err != nil {
		panic("panossim: built-in config: " + err.Error())
	}
	return configTrees{candidate: nodes[0], running: nodes[0].clone()}
}

const writeOK = `<response status="success" code="20"><msg>command succeeded</msg></response>`

func (s *Sim) config(w http.ResponseWriter, r *http.Request) result {
	s.mu.Lock()
	s.stats.ConfigCalls++
	s.mu.Unlock()
	action := r.Form.Get("action")
	switch action {
	case "get", "show", "set", "edit", "delete":
	default:
		return writeBadRequest(w, http.StatusBadRequest, "Invalid action")
	}
	steps, err := parseXPath(r.Form.Get("xpath"))
	if err != nil {
		return writeError(w, http.StatusOK, 6, "Bad Xpath")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	switch action {
	case "get", "show":
		root := s.cfgTree.candidate
		if action == "show" {
			root = s.cfgTree.running
		}
		n, _ := lookup(root, steps)
		if n == nil {
			if action == "show" {
				return writeError(w, http.StatusOK, 0, "No such node")
			}
			return writeXML(w, http.StatusOK, "success", 7, `<response status="success" code="7"><result/></response>`)
		}
		var b strings.Builder
		b.WriteString(`<response status="success" code="19"><result total-count="1" count="1">`)
		n.write(&b)
		b.WriteString(`</result></response>`)
		return writeXML(w, http.StatusOK, "success", 19, b.String())

	case "delete":
		n, parent := lookup(s.cfgTree.candidate, steps)
		if n == nil {
			return writeXML(w, http.StatusOK, "success", 7, `<response status="success" code="7"><msg>Object doesn't exist</msg></response>`)
		}
		if parent == nil {
			return writeError(w, http.StatusOK, 14, "Operation not possible")
		}
		for i, c := range parent.children {
			if c == n {
				parent.children = append(parent.children[:i], parent.children[i+1:]...)
				break
			}
		}
		return writeXML(w, http.StatusOK, "success", 20, writeOK)
	}

	elem := r.Form.Get("element")
	nodes, err := parseNodes(elem)
	if err != nil {
		return writeError(w, http.StatusOK, 18, "Malformed Request")
	}
	if action == "set" {
		n, err := ensure(s.cfgTree.candidate, steps)
		if err != nil {
			return writeError(w, http.StatusOK, 6, "Bad Xpath")
		}
		merge(n, nodes)
		return writeXML(w, http.StatusOK, "success", 20, writeOK)
	}
	// edit: the element is the node at xpath and replaces it.
	last := steps[len(steps)-1]
	if len(nodes) != 1 || !last.matches(nodes[0]) || len(steps) < 2 {
		return writeErrorCDATA(w, 12, " edit -> "+last.name+" is invalid: element does not match the node at xpath")
	}
	parent, err := ensure(s.cfgTree.candidate, steps[:len(steps)-1])
	if err != nil {
		return writeError(w, http.StatusOK, 6, "Bad Xpath")
	}
	repl := nodes[0]
	for i, c := range parent.children {
		if last.matches(c) {
			parent.children[i] = repl
			return writeXML(w, http.StatusOK, "success", 20, writeOK)
		}
	}
	parent.text = ""
	parent.children = append(parent.children, repl)
	return writeXML(w, http.StatusOK, "success", 20, writeOK)
}

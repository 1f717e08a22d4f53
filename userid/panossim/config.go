package panossim

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// configTrees is the candidate and the running configuration.
type configTrees struct {
	candidate, running *node
}

// defaultConfig is the configuration a Sim starts with. A firewall is a
// VM-Series as Palo Alto's AWS deployment guide sets it up: ethernet1/1 in
// zone untrust (DHCP, default route), ethernet1/2 in zone trust (DHCP, no
// default route), both in virtual-router "default" (or, with
// Config.AdvancedRouting, logical-router "default", vrf "default"). Panorama
// starts with its managed devices and no device groups or templates.
func defaultConfig(cfg Config) string {
	var b strings.Builder
	b.WriteString(`<config version="` + configVersion(cfg.SWVersion) + `" urldb="paloaltonetworks" detail-version="` + escapeAttr(cfg.SWVersion) + `">`)
	b.WriteString(`<mgt-config><users>`)
	users := make([]string, 0, len(cfg.Users))
	for u := range cfg.Users {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		b.WriteString(`<entry name="` + escapeAttr(u) + `"><permissions><role-based><superuser>yes</superuser></role-based></permissions></entry>`)
	}
	b.WriteString(`</users>`)
	if cfg.Panorama {
		b.WriteString(`<devices>`)
		for _, d := range cfg.Devices {
			b.WriteString(`<entry name="` + escapeAttr(d.Serial) + `"/>`)
		}
		b.WriteString(`</devices>`)
	}
	b.WriteString(`</mgt-config><shared/><devices><entry name="localhost.localdomain">`)
	b.WriteString(`<deviceconfig><system><hostname>` + escape(cfg.Hostname) + `</hostname></system>`)
	if cfg.AdvancedRouting && !cfg.Panorama {
		b.WriteString(`<setting><advance-routing>yes</advance-routing></setting>`)
	}
	b.WriteString(`</deviceconfig>`)
	if cfg.Panorama {
		b.WriteString(`<device-group/><template/><template-stack/></entry></devices></config>`)
		return b.String()
	}
	b.WriteString(`<network><interface><ethernet>` +
		`<entry name="ethernet1/1"><layer3><dhcp-client><create-default-route>yes</create-default-route></dhcp-client></layer3></entry>` +
		`<entry name="ethernet1/2"><layer3><dhcp-client><create-default-route>no</create-default-route></dhcp-client></layer3></entry>` +
		`</ethernet></interface>`)
	if cfg.AdvancedRouting {
		b.WriteString(`<logical-router><entry name="default"><vrf><entry name="default"><interface><member>ethernet1/1</member><member>ethernet1/2</member></interface></entry></vrf></entry></logical-router>`)
	} else {
		b.WriteString(`<virtual-router><entry name="default"><interface><member>ethernet1/1</member><member>ethernet1/2</member></interface></entry></virtual-router>`)
	}
	b.WriteString(`</network><vsys><entry name="vsys1">` +
		`<import><network><interface><member>ethernet1/1</member><member>ethernet1/2</member></interface></network></import>` +
		`<zone><entry name="untrust"><network><layer3><member>ethernet1/1</member></layer3></network></entry>` +
		`<entry name="trust"><network><layer3><member>ethernet1/2</member></layer3></network></entry></zone>` +
		`<address/><service/><rulebase/></entry></vsys></entry></devices></config>`)
	return b.String()
}

// configVersion is the version attribute of <config>: major.minor.0.
func configVersion(sw string) string {
	parts := strings.SplitN(sw, ".", 3)
	if len(parts) < 2 {
		return sw
	}
	return parts[0] + "." + parts[1] + ".0"
}

func newConfigTrees(cfg Config) configTrees {
	nodes, err := parseNodes(defaultConfig(cfg))
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
	xpath := r.Form.Get("xpath")
	if xpath == "" && action == "show" {
		// The whole running config, as devices answer it: no count attributes.
		s.mu.Lock()
		defer s.mu.Unlock()
		return writeXML(w, http.StatusOK, "success", 0,
			`<response status="success"><result>`+s.cfgTree.running.String()+`</result></response>`)
	}
	paths, err := parseXPathUnion(xpath)
	if err != nil {
		return writeError(w, http.StatusOK, 6, "Bad Xpath")
	}
	steps := paths[0]

	s.mu.Lock()
	defer s.mu.Unlock()
	switch action {
	case "get", "show":
		root := s.cfgTree.candidate
		if action == "show" {
			root = s.cfgTree.running
		}
		var hits []found
		for _, p := range paths {
			hits = append(hits, lookupAll(root, p)...)
		}
		if len(hits) == 0 {
			if action == "show" {
				return writeError(w, http.StatusOK, 0, "No such node")
			}
			return writeXML(w, http.StatusOK, "success", 7, `<response status="success" code="7"><result/></response>`)
		}
		var b strings.Builder
		n := strconv.Itoa(len(hits))
		b.WriteString(`<response status="success" code="19"><result total-count="` + n + `" count="` + n + `">`)
		for _, h := range hits {
			h.n.write(&b)
		}
		b.WriteString(`</result></response>`)
		return writeXML(w, http.StatusOK, "success", 19, b.String())

	case "delete":
		var hits []found
		for _, p := range paths {
			hits = append(hits, lookupAll(s.cfgTree.candidate, p)...)
		}
		if len(hits) == 0 {
			return writeXML(w, http.StatusOK, "success", 7, `<response status="success" code="7"><msg>Object doesn't exist</msg></response>`)
		}
		for _, h := range hits {
			if h.parent == nil {
				return writeError(w, http.StatusOK, 14, "Operation not possible")
			}
		}
		for _, h := range hits {
			removeChild(h.parent, h.n)
		}
		return writeXML(w, http.StatusOK, "success", 20, writeOK)
	}
	if len(paths) != 1 {
		// set and edit write one node.
		return writeError(w, http.StatusOK, 6, "Bad Xpath")
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

func removeChild(parent, n *node) {
	for i, c := range parent.children {
		if c == n {
			parent.children = append(parent.children[:i], parent.children[i+1:]...)
			return
		}
	}
}

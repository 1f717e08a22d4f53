// Package panossim is a PAN-OS XML API emulator: an http.Handler (and a small
// TLS test server) that speaks the subset of the firewall and Panorama XML API
// kubedag uses, with the responses, error codes and limits of a real device.
//
// # What it emulates
//
//   - type=keygen with configured users (default admin/admin); a new key ends
//     the user's earlier keys. Keys have the shape of real ones: the base64 of
//     ASCII text "-AQ==<hash>=<secret>", so their alphabet is letters, digits
//     and '=' and clients may append key=KEY to a body unencoded (pan-python
//     does). Keys are accepted from the X-PAN-KEY header, the key= query or
//     form field, or HTTP Basic auth. A bad key or password answers HTTP 403
//     with the reason phrase "Invalid Credential" (on HTTP/1.x the connection
//     is then closed: net/http cannot set a reason phrase otherwise).
//   - type=version (sw-version, multi-vsys, model, serial).
//   - type=user-id: uid-message register/unregister of IP-tag mappings with
//     per-tag timeout (expiring against Config.Now), per-entry persistent="0"
//     (dropped by Reboot), vsys= and Panorama target= scopes, a registered-IP
//     capacity, 32 tags per IP and 127-character tag names.
//   - type=op: show object registered-ip (all, tag filter, limit/start-point
//     paging), show jobs id, show system info with every field a VM-Series
//     (or a Panorama virtual appliance) on AWS reports, consistent with
//     Config.Model, Serial, SWVersion, Hostname and AdvancedRouting.
//   - type=config: get (candidate), show (running), set (merge), edit
//     (replace), delete on an XML config tree addressed by XPath: absolute
//     paths with predicates [@attr='v'], [text()='v'], "and"/"or" inside a
//     predicate, unions a|b (get, show, delete; set and edit write one node),
//     and action=show without xpath (the whole running config).
//   - type=commit (firewall) and type=commit&action=all (Panorama push), as
//     jobs that go ACT -> FIN when polled.
//
// # Test knobs
//
// SetLatency, SetOutage, ScheduleOutage (a window by Config.Now),
// InjectError, FailCommits, Reboot, Stats and Requests (a bounded request log
// that never records keys or passwords). With Config.Control the same knobs
// are reachable over HTTP under /_sim/ for tests that run the emulator as a
// separate process (kubedag panos-sim --control).
//
// # Fidelity notes
//
// Answers follow ../../shared/reference/panos-xml-api.md and answers of
// real devices recorded in public clients' tests. An unknown type= answers
// 'Illegal value for parameter "type" [x].' as devices do. Where the real
// device's behaviour is not documented the emulator is strict in a way a
// client must cope with anyway: re-registering an existing tag refreshes its
// timeout and answers the benign "tag T already exists, ignore" (overall
// status="error"); deleting a missing config node answers code 7; a commit is
// applied to the running config when it is accepted and its job only reports
// (ACT for Config.JobPolls polls, then FIN). Registered-IP listings carry no
// remaining tag timeouts, as in the reference's example. Not modelled: show
// jobs all and other op commands (answered as unknown commands), and the
// ~5 concurrent API calls per device that Palo Alto recommends.
//
// # Usage
//
//	sim := panossim.New(panossim.Config{Capacity: 1000})
//	ts := httptest.NewServer(sim)           // or panossim.Start(cfg, true, "127.0.0.1:0")
//	key, _ := sim.APIKeyFor("admin")
//	// ... drive the XML API at ts.URL + "/api/" ...
//	got := sim.Registered()                 // unexpired IP -> sorted tags
//
// New starts no goroutines; Sim is safe for concurrent use.
package panossim

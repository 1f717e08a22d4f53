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
//     with the reason phrase "Invalid Credential".
//   - type=version (sw-version, multi-vsys, model, serial).
//   - Admin-role XML API permissions (Config.APIPermissions): a request
//     type the user's role lacks answers 403 "Type [commit] not authorized
//     for user role." as devices do.
//   - type=user-id: uid-message register/unregister of IP-tag mappings with
//     per-tag timeout (expiring against Config.Now), per-entry persistent="0"
//     (dropped by Reboot), vsys= and Panorama target= scopes, a registered-IP
//     capacity, 32 tags per IP and 127-character tag names. The other
//     sections pan-os-python, pango and pan-python send are stored per
//     scope as a device stores them: login (IP-user mapping; timeout in
//     minutes, default the 45-minute User-ID timeout; a login replaces the
//     address's user) and logout (of the mapped user), groups (each entry is
//     the group's whole membership), register-user/unregister-user (tags on
//     users, with the rules of IP tags; unregister-user without tags removes
//     them all). Any mix of sections is one message. The document comes as
//     cmd= or, as Palo Alto's documentation uploads it (curl -F key=KEY
//     --form file=@FILE), as a multipart file named file.
//   - type=op: show object registered-ip (all, tag filter, ip filter, both,
//     limit/start-point paging; as pan-os-python's get_registered_ip and
//     pango send it); show user ip-user-mapping all [type T] | ip
//     ADDRESS-OR-PREFIX (and ip-user-mapping-mp; pango's GetLogins forms:
//     the mappings of the vsys= given, or of every vsys, by address); show
//     object registered-user all [limit, start-point] | user U; show user
//     group list [entry name=xmlapi|dynamic|custom-group] and show user
//     group name G (text in CDATA); show jobs id N and show jobs all; show
//     system info with every field a VM-Series (or a Panorama virtual
//     appliance) on AWS reports, consistent with Config.Model, Serial,
//     SWVersion, Hostname and AdvancedRouting (on Panorama with
//     target=SERIAL: that managed firewall's); on Panorama, show devices
//     all|connected lists the managed firewalls (Config.Devices), all
//     connected.
//     show object dynamic-address-group all|name N: every dynamic address
//     group (address-group entry with dynamic/filter) of the running config
//     in the request's vsys (vsys=, default vsys1) and in shared, with its
//     members: the registered addresses of that vsys whose unexpired tags
//     match the filter, and the address objects whose tags match (a vsys
//     group sees its vsys's and shared objects, a vsys object hiding a
//     shared one of the same name; a shared group sees shared objects).
//     Filters follow PAN-OS (and tags/dagfilter's documented choices):
//     tags quoted or bare, and/or in any case, and before or, parentheses;
//     the emulator parses them itself. Panorama lists its shared and
//     device-group dynamic groups without members (it does not populate
//     them); with target=SERIAL it answers for that managed firewall (the
//     groups pushed to it, the registrations made for that target).
//     On Panorama, show dg-hierarchy nests the running config's device
//     groups by their parents (dg name= dg_id=, children inside), the shape
//     pango and pan-os-python read; request move-dg entry name=DG
//     [new-parent-dg P] (none: to the top level, under shared) changes a
//     parent as pango's AssignDeviceGroupParent (Terraform's
//     panos_device_group_parent) and pan-os-python's DeviceGroupHierarchy
//     update send it: a MoveDG job they poll with show jobs id until
//     progress 100, the move made when accepted. Groups need only be in the
//     candidate config (Terraform and pan-os-ansible's panos_device_group
//     move a group they have just created, before any commit); a move under the group itself, under one of its
//     descendants or below the fourth level (Panorama's documented limit)
//     fails the job (result FAIL, the reason as details line). Parents are
//     kept, as on a device, under readonly/.../device-group/entry/parent-dg
//     of the candidate and the running config at once. SetDeviceGroupParent
//     is the same move for Go tests.
//     Device state, as clients ask it around connection set-up, commits
//     and facts gathering (opdevice.go): check pending-changes (yes when
//     the candidate config differs from the running one, whoever changed
//     it; on Panorama with target=SERIAL, the managed firewall's: no),
//     check full-commit-required (no), show clock (Config.Now) and show
//     high-availability state|all (a standalone device: enabled no); on a
//     firewall (or on Panorama with target=SERIAL), what panos_facts'
//     default subsets add: show session info and show session meter (no
//     traffic) and show routing route (the running config's IPv4 static
//     routes of every virtual router).
//     Config and commit locks (oplocks.go), as pango and pan-os-python take
//     them: request config-lock|commit-lock add [comment] | remove (commit
//     locks: [admin A]) on the scope of vsys= (default shared), show
//     config-locks|commit-locks [vsys all|NAME]. Another admin's config
//     lock refuses a write in its scope (shared: everywhere; a vsys or
//     device group: there) with code 15 "Configuration is locked by A";
//     another admin's commit lock refuses commits with code 14 "Other
//     administrators are holding device wide commit locks."; an accepted
//     commit ends the committer's locks. revert config and load config from
//     running-config.xml (opconfig.go; pan-os-python's
//     revert_to_running_configuration, pango's RevertToRunningConfig) drop
//     every admin's uncommitted changes, unless another admin holds a
//     config lock.
//   - type=config: get (candidate), show (running), set (merge), edit
//     (replace), delete, move (where=top|bottom|before|after, dst), rename
//     (newname) and clone (from, newname) on an XML config tree addressed
//     by XPath: absolute paths with predicates [@attr='v'], [text()='v'],
//     "and"/"or" inside a predicate,
//     unions a|b (get, show, delete; the other actions address one node),
//     a trailing /@name on get and show (the matched entries' names as
//     empty <entry name="..."/> elements, for name-only listings),
//     and action=show without xpath (the whole running config). On Panorama,
//     get and show with target=SERIAL read that managed firewall's running
//     config. Policy rules get a uuid attribute when created (PAN-OS 9.0+),
//     kept by edits, moves and commits; a diff of desired against stored
//     rules must ignore it. Names of objects, rules and routes are limited to
//     63 characters (code 12).
//   - The default config is a VM-Series as Palo Alto's AWS deployment guide
//     sets it up: ethernet1/1 in zone untrust (DHCP, default route),
//     ethernet1/2 in zone trust (DHCP, no default route), both in
//     virtual-router "default", or with Config.AdvancedRouting in
//     logical-router "default" vrf "default" (deviceconfig/setting/
//     advance-routing yes). Panorama starts with its managed devices
//     (mgt-config/devices) and no device groups, templates or stacks.
//   - type=commit: <commit/> commits everything; <commit><partial>...
//     (documented with action=partial; pan-os-python and pango send it
//     without, and are answered alike; action=partial without <partial> is
//     refused with code 17) takes
//     only the changes of the named admins (<admin><member>) and, on
//     Panorama, of the named device groups, templates and template stacks
//     (once any location is named, only named locations plus shared objects
//     and device settings, unless <shared-object>/<device-and-network>
//     excluded; <policy-and-objects>excluded</policy-and-objects> leaves
//     vsys changes out), or with <object-xpaths><member>XPATH (PowerPAN)
//     only the writes to those objects; the other changes stay pending in
//     the candidate. <force> commits even when nothing is pending (a job
//     instead of "There are no changes to commit.", code 19 without a job,
//     the answer PowerPAN quotes); it may hold the partial and the
//     description (pango, pan-python and pan-os-python's FirewallCommit
//     nest <partial> in it, pan-os-python's PanoramaCommit puts <force/>
//     beside it, PowerPAN puts <description> in <force> or <partial>). The
//     description is the job's <description>. Partial lists of log
//     collectors and WildFire appliances (pango, pan-os-python) are
//     accepted and name nothing the emulator holds.
//     Every config write is attributed to the admin whose key made it.
//     The commit validates the config it would make running and fails the
//     job (result FAIL, details "Validation Error:", two lines per error in
//     PAN-OS's shape "<path> -> <field> '<value>' is not a valid reference"
//     / "<path> -> <field> is invalid", then "Commit failed") for: NAT rules
//     naming a missing zone (from/to), interface (to-interface, source
//     translation), address or address group (source, destination,
//     translated addresses), service or tag; address objects without exactly
//     one of ip-netmask/ip-range/ip-wildcard/fqdn or with a bad fqdn;
//     services without tcp/udp and a valid port list; static routes (virtual
//     router or logical-router VRF) with a bad destination, next hop or
//     metric, or an interface that does not exist or is not in the router.
//     Panorama validates device-group objects and rules (not zones or
//     interfaces, which live in templates) and template route shapes.
//   - type=commit&action=all on Panorama: <shared-policy> (a device group,
//     or without one every device group, each firewall getting the groups
//     it belongs to; with <include-template>yes</include-template> their
//     templates too; with <validate-only/> nothing is changed and devices
//     report "Configuration is valid"),
//     <template-stack><name>, <template><name>, each pushing Panorama's
//     running config. A device list narrows a push: <devices><entry
//     name="SERIAL"/> in the group's entry (pango, pan-os-python),
//     <device><member> in a template or stack; pan-python's PanCommit
//     names the group as text (<device-group>DG</device-group>) and one
//     firewall as <device>SERIAL</device>. <description> becomes the push
//     job's description. A firewall belongs to the device group that lists it
//     under devices (Panorama assigns a firewall to one group) or, when no
//     group lists it, to every group listing no devices (the emulator's
//     default); a stack applies to the firewalls it lists, or to all when
//     it lists none. A push of a device group reaches the firewalls that
//     belong to it, not those of its descendants (they get its content when
//     their own group is pushed). Each firewall builds the config it would
//     run: its own config; the templates merged over it; Panorama's shared
//     objects in its shared and the objects of its group and the group's
//     ancestors in vsys1, a descendant's object replacing an ancestor's of
//     the same name (Panorama's default precedence); and in each rulebase,
//     in the evaluation order of Palo Alto's "Device Group Policies",
//     shared pre-rules, the groups' pre-rules from the top level down, its
//     own rules, the groups' post-rules from the deepest up, shared
//     post-rules. It validates that config as a firewall commit does, so a
//     rule may use objects of its group's ancestors and shared; Panorama's
//     own commit checks a group's rules against shared, its ancestors and
//     itself (not its descendants). The job reports per device, in the
//     shape of recorded Panorama answers: push_type, dgname, devices/entry
//     with serial-no, devicename, multi-vsys, vsys, status ("commit
//     succeeded" or "commit failed"), result, tstart, tfin and
//     details/msg[@cmd="push-data"] with errors/line. The job's result is
//     FAIL when any device failed. DeviceConfig returns a firewall's
//     resulting config.
//   - Jobs go ACT (tfin "Still Active", progress 50, no devices yet) to FIN
//     after Config.JobPolls polls; the commit itself is applied (or refused)
//     when it is accepted.
//
// # Test knobs
//
// SetLatency, SetOutage, ScheduleOutage (a window by Config.Now),
// InjectError, FailCommits (the next commits or pushes fail, every device
// of a push), FailPush (the next pushes to one managed firewall fail on that
// device only), Reboot, Stats and Requests (a bounded request log that never
// records keys or passwords). With Config.Control the same knobs are
// reachable over HTTP under /_sim/ for tests that run the emulator as a
// separate process (kubedag panos-sim --control), see serveControl.
//
// # Fidelity notes: deliberately approximate, and why
//
// Answers follow ../../shared/reference/panos-xml-api.md and answers of real
// devices recorded in public clients' tests (pan-python, pan-os-python and
// the PAN-OS integration of Cortex XSOAR). Where the documentation is silent
// the emulator keeps a strict choice a client must cope with anyway:
//
//   - Wording of errors no public capture shows: an unknown type= answers
//     'Illegal value for parameter "type" [x].' (as devices do) and an
//     unknown action= the same sentence for "action"; config errors use the
//     codes of the reference's table (6 bad xpath, 7 missing object, 12
//     invalid object, 13 unknown target, 15 denied, 17 unexpected command,
//     18 malformed).
//   - The 403 reason phrase "Invalid Credential" is written on the hijacked
//     HTTP/1.x connection, which is then closed (net/http cannot set a
//     reason phrase otherwise); over HTTP/2 there is no reason phrase.
//   - Re-registering an existing tag refreshes its timeout and answers the
//     benign "tag T already exists, ignore" (overall status="error");
//     deleting a missing config node answers code 7. Registered-IP listings
//     carry no remaining tag timeouts, as in the reference's example.
//   - User-ID answers, sourced: success is result/uid-response with the
//     message's version (2.0 when it names none) and the sections of the
//     kinds sent, in pairs: <unregister> </unregister><register> </register>
//     (one space, as recorded; also the answer to an empty payload) and
//     <login></login><logout></logout> (as recorded for login-only
//     messages). A failure is status="error" with the same uid-response in
//     msg/line, the failing entries in their section and the empty sibling
//     kept (recorded answers: "tag foo already exists, ignore" beside an
//     empty unregister; "Delete mapping failed" for a logout the device does
//     not hold, beside an empty login). Entry attributes come ip then
//     message (name, ip, message for login/logout): pan-python joins them
//     as "ip: X message: M" lines and pan-os-python ignores a failure whose
//     last line ends in "already exists, ignore" or "does not exist, ignore
//     unreg" ("ip X does not exist, ignore unreg" is also matched by other
//     clients). A payload inside <type> is applied: pan-python's live test
//     suite sends that form, with an XML declaration, and reads the mapping
//     back. show user ip-user-mapping entries are ip, vsys, type XMLAPI,
//     user, idle_timeout and timeout (remaining seconds, both alike), one a
//     line, then count (recorded answers of XML API and AD mappings); no
//     mapping answers an empty result. show object registered-user entries
//     are entry user= with tag/member lines and count (pango's fixtures);
//     show user group list and name print the text pan-os-python and
//     pango's fixtures show ("NAME \n" lines, "Total: N", "* : Custom
//     Group"; "source type: xmlapi", "Group type: Dynamic", "[1     ] user";
//     "User group 'G' does not exist or does not have members").
//   - User-ID choices where no source shows the device: sections are
//     applied unregister before register (the answer's order), login before
//     logout, unregister-user before register-user; sections answer in the
//     order login/logout, unregister/register, groups,
//     unregister-user/register-user. Failures other than the recorded ones
//     are worded like the register ones ("Failed to login user U: invalid
//     ip address", "Failed to register user U: ...", "user U does not
//     exist, ignore unreg", "tag T does not exist, ignore unreg"); a login
//     takes one address (no range or subnet), timeout="0" means the
//     default, and timeouts above 30 days fail. User tags follow the IP-tag
//     limits (32 a user, 127 characters, seconds up to 30 days). Mappings,
//     tagged users and group members are each bounded by Config.Capacity.
//     API groups are listed for the xmlapi and dynamic styles, never as
//     custom groups. The ip= filter of registered-ip and ip-user-mapping
//     matches the address as registered (not addresses inside a registered
//     range or subnet). Reboot keeps mappings, user tags and groups.
//   - Panorama itself has no vsys: without target= it ignores vsys= on
//     user-id calls and their listings (pan-os-python sends vsys=shared with
//     user-id calls and none with op commands, and reads back what it
//     registered); with target=SERIAL the vsys is the managed firewall's.
//   - Change attribution is per write (a replayable operation), not per
//     config node as on a device: two admins editing the same node are
//     committed in write order. The change log holds at most 100,000
//     writes; older ones are taken only by a full commit.
//   - Validation covers what kubedag writes (above), not the whole schema;
//     element children are stored in the order written, not in schema
//     order, and defaults (e.g. a route's metric 10) are not filled in.
//   - The merged firewall config puts pushed objects in vsys1 (shared ones
//     in the firewall's shared) instead of a separate Panorama section, so
//     a pushed object replaces a local one of the same name where a device
//     fails the commit; "Ancestor Objects Take Precedence" is not modelled.
//     That a push of a parent group leaves its descendants' firewalls alone
//     is chosen (the push names a group; a pan-os-ansible user saw pushes
//     reach only firewalls assigned to the named group, issue 400).
//   - move-dg, chosen where no capture shows Panorama's answer: the
//     accepted command answers result/msg/line "Move device group job
//     enqueued with jobid N" and result/job N (clients read only the
//     job); the job's type is MoveDG; it goes ACT then FIN like commit jobs
//     (pan-os-python's author saw it finished at once; Config.JobPolls -1
//     gives that), details "Device group DG moved under P|shared" or the
//     failure's reason ("Device group DG cannot be its own parent",
//     "... cannot move under its descendant P", "... cannot move under P:
//     the hierarchy allows at most 4 levels"). A group or new parent the
//     config lacks is refused at once with code 17 "request -> move-dg ->
//     entry 'X' is not a valid reference" (new-parent-dg 'P' for the
//     parent; "shared" is not a group name); on a firewall the command is
//     unknown (" request -> move-dg  is unexpected").
//   - show object dynamic-address-group answers in the shape of devices'
//     answers quoted by PowerPAN (firewall: result/dyn-addr-grp/entry with
//     vsys, group-name, filter, member-list/entry name= type=
//     "registered-ip"|"address-object", shared groups last without vsys,
//     response cmd="status"; Panorama: result/device-groups/entry
//     name=LOCATION/address-group name=G with an empty member-list) and by
//     XSOAR's tests (a name no group has: one entry holding only an empty
//     member-list). Not sourced, so chosen: "all" without dynamic groups
//     answers an empty <dyn-addr-grp/> (Panorama <device-groups/>); the
//     name form lists every group of that name (vsys, then shared); members
//     are address objects (config order) then registered addresses
//     (registered-ip order). Static or dynamic address groups carrying a
//     matching tag are not members (the CLI's legend names such members,
//     no XML answer shows their type); a group not referenced by any policy
//     rule still lists its members (devices may show it "not in use"; no
//     XML answer shows that either); a filter the emulator cannot parse
//     (commits do not validate filters) lists no members.
//   - Device-state answers (opdevice.go) are in the shapes clients parse:
//     result text yes/no for the checks (pan-os-python's pending_changes,
//     panos_facts and PowerPAN read response/result), enabled no with a
//     local-info holding only encrypt-imported no for high availability
//     (XSOAR's recorded show_ha_state_disabled.xml; pan-os-python,
//     panos_facts and PowerPAN read enabled "no" as standalone and look no
//     further) and the date(1) line with its newline for show clock
//     (pango's Client.Clock parses time.UnixDate+"\n"). Chosen where no
//     source shows the device: the clock is UTC (the default config sets no
//     timezone); full commits are never required (every partial commit is
//     possible here); pending changes are device-wide, a set undone by a
//     delete leaves none; the commands take no arguments, and anything else
//     under check, show clock, high-availability, session or routing is
//     unexpected (code 17, naming the first unexpected element), as are the
//     session and routing commands on Panorama itself and show routing
//     route with advanced routing. show session info has the fields and
//     order of a recorded answer (IrekRomaniuk/snap-plugin-collector-
//     sessioninfo's test data) and its default timeouts, with counters and
//     rates 0, hw-offload False and num-max 2000000 (Palo Alto's figure for
//     a 16 GB VM-Series); show session meter, of which no recorded XML
//     answer was found, is one entry with the elements panos_facts reads
//     and the columns Palo Alto documents (vsys 1, maximum 0 "unlimited",
//     current 0, throttled 0); show routing route has the shape of XSOAR's
//     recorded show_routing_route.xml (flags legend, then per route
//     virtual-router, destination, nexthop, metric, flags "A S   ", age,
//     interface, route-table) but lists only configured static routes with
//     a prefix destination (routes a device learns itself, connected, host
//     and DHCP routes, are missing: the emulator assigns no interface
//     addresses), in config order, metric 10 when unset.
//   - Locks answer as recorded in rautanen-io/netbox-panorama-configpump-
//     plugin's tests (Panorama 11.1, an API admin): "Successfully acquired
//     lock. Other administrators will not be able to modify|commit
//     configuration until lock is released by A.", "Config|Commit lock is
//     already held by A", "Config|Commit lock released for A", "Config|Commit
//     is not currently locked for scope S" (status error, no code), the
//     commit refusal above, and listings of entry name=A with type, name,
//     created, last-activity, loggedin yes and comment in CDATA ("(null)"
//     without one). Chosen where no source shows the device: the refusal of
//     a config write (pan-os-python only shows its start, "Configuration is
//     locked by", and the code is the emulator's "denied"); "You already own
//     a config lock for scope S" (pan-os-python matches its start) when the
//     holder asks again; any admin may remove a config lock (emulated admins
//     are superusers) and a commit lock of any scope refuses every commit of
//     other admins; the committer's config lock ends with its commit too
//     (pan-os-python forgets both after a commit); type is shared, vsys or,
//     on Panorama, dg; created and last-activity are the time of taking;
//     a managed firewall through Panorama lists no locks and cannot be
//     locked. pan-os-python's own error patterns for add ("Config for scope
//     S is currently locked") and commit-lock remove ("Commit lock is not
//     currently held") differ from the recorded answers; the emulator keeps
//     the recorded ones. revert config answers as recorded there ("All
//     changes were reverted from configuration" in result/msg/line); load
//     config from running-config.xml answers "Config loaded from
//     running-config.xml" in the same shape (chosen: the recorded load
//     answers are of partial loads, nested one msg/line deeper); other saved
//     configs, partial reverts and both commands through Panorama to a
//     managed firewall are unexpected.
//   - Commit forms, chosen where no source shows the device: an empty
//     exclusion element (pan-os-python's commit_device_and_network and
//     commit_policy_and_objects send <policy-and-objects /> or
//     <device-and-network />) reads as excluded, any other text but
//     "excluded" is unexpected; <no-vsys> (pan-python), <novsys> (PowerPAN)
//     and <no-template>, <no-template-stack>, <no-device-group> are taken
//     and change nothing; a description may stand in <commit>, <force> or
//     <partial>, the last one read wins; a second <partial>, a <force> in
//     <force>, a location list of the other device kind (<vsys> on
//     Panorama, <device-group> or <template> on a firewall) or any other
//     element is unexpected (code 17, its path). An
//     object xpath takes a write at or under it, and a write at an
//     ancestor that changes it (a set of the object under its parent, as
//     clients write objects) whole. Recorded job answers show an empty
//     <description/>; the emulator fills it with the commit's description.
//   - Push options, chosen where no source shows their effect here:
//     force-template-values is always in effect (pushed template config
//     is merged over the firewall's own, never under it);
//     merge-with-candidate-cfg changes nothing (managed firewalls have no
//     candidate config of their own here); <admin> in a push (pan-os-python,
//     PAN-OS 10.2+) does not narrow it to those admins' changes; <vsys>
//     (pan-python) is taken and ignored (firewalls have vsys1 only). The
//     emulated Panorama has no log collectors or WildFire appliances:
//     log-collector-config and wildfire-appliance-config pushes (pango,
//     pan-os-python) are unexpected (code 17).
//   - Commit jobs do not queue behind each other; each moves on when polled.
//     Not modelled: other op commands (answered as unknown commands),
//     override and multi-config, and the ~5 concurrent API calls per device
//     that Palo Alto recommends.
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

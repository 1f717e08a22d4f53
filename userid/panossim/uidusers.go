package panossim

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultUserTimeout is how long an IP-user mapping lasts when a login
// names no timeout: the default User-ID timeout of PAN-OS (45 minutes).
const DefaultUserTimeout = 45 * time.Minute

// userScope is the User-ID state of one vsys besides IP tags: IP-user
// mappings (login/logout), tags on users (register-user) and groups set
// through the API. Sim.mu guards it.
type userScope struct {
	mappings map[string]ipUser   // canonical IP -> user
	tags     map[string][]regTag // user -> tags, in the order registered
	groups   map[string][]string // group -> members, in the order sent
}

type ipUser struct {
	user    string
	expires time.Time
}

func (s *Sim) userScopeLocked(key string, create bool) *userScope {
	us := s.users[key]
	if us == nil && create {
		if s.users == nil {
			s.users = map[string]*userScope{}
		}
		us = &userScope{mappings: map[string]ipUser{}, tags: map[string][]regTag{}, groups: map[string][]string{}}
		s.users[key] = us
	}
	return us
}

// sweepUsersLocked drops expired mappings and user tags everywhere, so
// capacities and listings see only live state.
func (s *Sim) sweepUsersLocked(now time.Time) {
	for _, us := range s.users {
		for ip, m := range us.mappings {
			if !now.Before(m.expires) {
				delete(us.mappings, ip)
			}
		}
		for u, tags := range us.tags {
			kept := slices.DeleteFunc(tags, func(t regTag) bool { return !t.live(now) })
			if len(kept) == 0 {
				delete(us.tags, u)
			} else {
				us.tags[u] = kept
			}
		}
	}
}

// userCountsLocked counts mappings, tagged users and group members over
// every scope, each bounded by Config.Capacity.
func (s *Sim) userCountsLocked() (mappings, users, members int) {
	for _, us := range s.users {
		mappings += len(us.mappings)
		users += len(us.tags)
		for _, m := range us.groups {
			members += len(m)
		}
	}
	return mappings, users, members
}

// applyUserIDLocked applies the sections of a message other than register
// and unregister to one scope: login then logout, groups, unregister-user
// then register-user (the order of the answer's sections).
func (s *Sim) applyUserIDLocked(key string, p *uidPayload, a *uidAnswer) {
	if p.Login == nil && p.Logout == nil && p.Groups == nil && p.RegisterUser == nil && p.UnregisterUser == nil {
		return
	}
	now := s.cfg.Now()
	s.sweepUsersLocked(now)
	us := s.userScopeLocked(key, true)
	if p.Login != nil {
		for _, e := range p.Login.Entries {
			if msg := s.loginLocked(us, e, now); msg != "" {
				a.login = append(a.login, uidResult{name: e.Name, ip: e.IP, message: msg})
			}
		}
	}
	if p.Logout != nil {
		for _, e := range p.Logout.Entries {
			ip, ok := parseUserIP(e.IP)
			if m, found := us.mappings[ip]; !ok || !found || m.user != strings.TrimSpace(e.Name) {
				// The message of devices for a mapping they do not hold.
				a.logout = append(a.logout, uidResult{name: e.Name, ip: e.IP, message: "Delete mapping failed"})
				continue
			}
			delete(us.mappings, ip)
		}
	}
	if p.Groups != nil {
		for _, g := range p.Groups.Entries {
			if msg := s.setGroupLocked(us, g); msg != "" {
				a.groups = append(a.groups, uidResult{name: g.Name, message: msg})
			}
		}
	}
	if p.UnregisterUser != nil {
		for _, e := range p.UnregisterUser.Entries {
			a.unregUser = untagUserLocked(us, e, a.unregUser)
		}
	}
	if p.RegisterUser != nil {
		for _, e := range p.RegisterUser.Entries {
			a.regUser = s.tagUserLocked(us, e, now, a.regUser)
		}
	}
}

// parseUserIP reads the one address of a login: no range, subnet or zone.
func parseUserIP(s string) (string, bool) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || a.Zone() != "" {
		return "", false
	}
	return a.Unmap().String(), true
}

func (s *Sim) loginLocked(us *userScope, e uidLogin, now time.Time) string {
	user := strings.TrimSpace(e.Name)
	fail := func(reason string) string { return "Failed to login user " + user + ": " + reason }
	ip, ok := parseUserIP(e.IP)
	switch {
	case user == "":
		return fail("empty user name")
	case !ok:
		return fail("invalid ip address")
	}
	d := DefaultUserTimeout
	if t := strings.TrimSpace(e.Timeout); t != "" {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || n < 0 || n > int64(MaxTagTimeout/time.Minute) {
			return fail(fmt.Sprintf("invalid timeout %q (minutes, max %d)", e.Timeout, int64(MaxTagTimeout/time.Minute)))
		}
		if n > 0 {
			d = time.Duration(n) * time.Minute
		}
	}
	if _, found := us.mappings[ip]; !found {
		if n, _, _ := s.userCountsLocked(); n >= s.cfg.Capacity {
			return fail(fmt.Sprintf("ip-user mapping capacity %d reached", s.cfg.Capacity))
		}
	}
	// One user per address: a login replaces the address's mapping.
	us.mappings[ip] = ipUser{user: user, expires: now.Add(d)}
	return ""
}

func (s *Sim) setGroupLocked(us *userScope, g uidGroup) string {
	name := strings.TrimSpace(g.Name)
	if name == "" {
		return "Failed to set group: empty group name"
	}
	var members []string
	if g.Members != nil {
		for _, m := range g.Members.Entries {
			if u := strings.TrimSpace(m.Name); u != "" && !slices.Contains(members, u) {
				members = append(members, u)
			}
		}
	}
	_, _, total := s.userCountsLocked()
	if total-len(us.groups[name])+len(members) > s.cfg.Capacity {
		return fmt.Sprintf("Failed to set group %s: group member capacity %d reached", name, s.cfg.Capacity)
	}
	// The entry is the group's whole membership.
	us.groups[name] = members
	return ""
}

func untagUserLocked(us *userScope, e uidUserEntry, out []uidResult) []uidResult {
	user := strings.TrimSpace(e.User)
	tags, found := us.tags[user]
	if !found {
		return append(out, uidResult{user: e.User, message: "user " + user + " does not exist, ignore unreg"})
	}
	if e.Tag == nil || len(e.Tag.Members) == 0 {
		delete(us.tags, user)
		return out
	}
	for _, m := range e.Tag.Members {
		name := strings.TrimSpace(m.Name)
		i := slices.IndexFunc(tags, func(t regTag) bool { return t.name == name })
		if i < 0 {
			out = append(out, uidResult{user: e.User, message: "tag " + name + " does not exist, ignore unreg"})
			continue
		}
		tags = slices.Delete(tags, i, i+1)
	}
	if len(tags) == 0 {
		delete(us.tags, user)
	} else {
		us.tags[user] = tags
	}
	return out
}

// tagUserLocked registers tags on a user with the rules of IP tags: per-tag
// timeout in seconds, at most MaxTagsPerIP tags of at most MaxTagNameLen
// characters, and a re-registered tag refreshed and answered as benign.
func (s *Sim) tagUserLocked(us *userScope, e uidUserEntry, now time.Time, out []uidResult) []uidResult {
	user := strings.TrimSpace(e.User)
	fail := func(reason string) []uidResult {
		return append(out, uidResult{user: e.User, message: "Failed to register user " + user + ": " + reason})
	}
	if user == "" {
		return fail("empty user name")
	}
	add, reason := newTags(e.Tag)
	if reason != "" {
		return fail(reason)
	}
	tags, found := us.tags[user]
	fresh := 0
	for _, t := range add {
		if !slices.ContainsFunc(tags, func(r regTag) bool { return r.name == t.name }) {
			fresh++
		}
	}
	if len(tags)+fresh > MaxTagsPerIP {
		return fail(fmt.Sprintf("too many tags (max %d)", MaxTagsPerIP))
	}
	if !found {
		if _, n, _ := s.userCountsLocked(); n >= s.cfg.Capacity {
			return fail(fmt.Sprintf("registered-user capacity %d reached", s.cfg.Capacity))
		}
	}
	for _, t := range add {
		var exp time.Time
		if t.timeout > 0 {
			exp = now.Add(t.timeout)
		}
		if i := slices.IndexFunc(tags, func(r regTag) bool { return r.name == t.name }); i >= 0 {
			tags[i].expires = exp
			out = append(out, uidResult{user: e.User, message: "tag " + t.name + " already exists, ignore"})
			continue
		}
		tags = append(tags, regTag{name: t.name, expires: exp, persistent: true})
	}
	us.tags[user] = tags
	return out
}

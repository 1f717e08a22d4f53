// Package userid is kubedag's client for the PAN-OS XML API.
//
// It registers and unregisters User-ID IP-tag mappings (the tags that
// Dynamic Address Groups match on), lists what a device holds, and reads
// and writes configuration by XPath with commit, Panorama push and job
// polling, and reads every Dynamic Address Group filter (DAGFilters, parsed
// by tags/dagfilter). The wire facts it follows are in
// shared/reference/panos-xml-api.md; golden files under testdata/ pin every
// request it builds and every response shape it parses.
//
// # Usage
//
//	c, err := userid.New(userid.Config{URL: "https://fw.example", APIKey: key})
//	res, err := c.Update(ctx, userid.Update{
//		Unregister: []userid.Entry{{IP: ip, Tags: []userid.Tag{{Name: "old"}}}},
//		Register:   []userid.Entry{{IP: ip, Tags: []userid.Tag{{Name: "new", Timeout: time.Hour}}}},
//	})
//	for _, f := range res.Failed { ... } // per-IP failures, e.g. f.CapacityFull
//
// The caller's duties:
//
//  1. Build one Client per device (firewall vsys or Panorama); a Client is
//     safe for concurrent use, and holds at most a few connections.
//  2. Pass a context with a deadline; every request also has its own
//     Config.Timeout.
//  3. Check errors with IsAuth, IsRetryable, IsNotFound and IsBadRequest
//     rather than by text. Requests that are safe to repeat (reads, op
//     commands, keygen and User-ID updates, which are idempotent) are
//     already retried with exponential backoff and jitter; configuration
//     writes and commits are never repeated once they may have reached the
//     device.
//
// The API key travels only in the X-PAN-KEY header and the password only in
// a POST body, so neither can leak through an error that quotes a URL; error
// strings and log lines are also scrubbed of both as a second line of
// defence.
package userid

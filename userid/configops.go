package userid

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Op runs an operational command (type=op), e.g.
// "<show><system><info/></system></show>", and returns the inner XML of
// <result>. Op commands are retried like reads, so do not use Op for
// commands that must not run twice.
func (c *Client) Op(ctx context.Context, cmd string) ([]byte, error) {
	if strings.TrimSpace(cmd) == "" {
		return nil, errors.New("pan-os op: empty command")
	}
	resp, err := c.do(ctx, request{op: "op", params: url.Values{"type": {"op"}, "cmd": {cmd}}, safe: true})
	if err != nil {
		return nil, err
	}
	return resultOrEmpty(resp), nil
}

// Get returns the candidate configuration at xpath (the inner XML of
// <result>). A missing node is an error for which IsNotFound is true.
func (c *Client) Get(ctx context.Context, xpath string) ([]byte, error) {
	return c.configRead(ctx, "get", xpath)
}

// Show returns the running configuration at xpath, like Get.
func (c *Client) Show(ctx context.Context, xpath string) ([]byte, error) {
	return c.configRead(ctx, "show", xpath)
}

func (c *Client) configRead(ctx context.Context, action, xpath string) ([]byte, error) {
	if xpath == "" {
		return nil, fmt.Errorf("pan-os config %s: empty xpath", action)
	}
	resp, err := c.do(ctx, request{
		op:     "config " + action,
		params: url.Values{"type": {"config"}, "action": {action}, "xpath": {xpath}},
		safe:   true,
	})
	if err != nil {
		return nil, err
	}
	return resultOrEmpty(resp), nil
}

// Set merges element into the candidate configuration at xpath. It is not
// retried once it may have reached the device.
func (c *Client) Set(ctx context.Context, xpath, element string) error {
	return c.configWrite(ctx, "set", xpath, element)
}

// Edit replaces the node at xpath with element (which must be that node).
// It is not retried once it may have reached the device.
func (c *Client) Edit(ctx context.Context, xpath, element string) error {
	return c.configWrite(ctx, "edit", xpath, element)
}

// Delete removes the node at xpath from the candidate configuration. It is
// not retried once it may have reached the device.
func (c *Client) Delete(ctx context.Context, xpath string) error {
	return c.configWrite(ctx, "delete", xpath, "")
}

func (c *Client) configWrite(ctx context.Context, action, xpath, element string) error {
	if xpath == "" {
		return fmt.Errorf("pan-os config %s: empty xpath", action)
	}
	params := url.Values{"type": {"config"}, "action": {action}, "xpath": {xpath}}
	if action != "delete" {
		if strings.TrimSpace(element) == "" {
			return fmt.Errorf("pan-os config %s: empty element", action)
		}
		params.Set("element", element)
	}
	_, err := c.do(ctx, request{op: "config " + action, params: params})
	return err
}

// Rule and list-entry placements for Move.
const (
	MoveTop    = "top"
	MoveBottom = "bottom"
	MoveBefore = "before"
	MoveAfter  = "after"
)

// Move places the entry at xpath (a rule) in its list: where is top,
// bottom, before or after; dst names the entry before/after refers to. It
// is not retried once it may have reached the device.
func (c *Client) Move(ctx context.Context, xpath, where, dst string) error {
	if xpath == "" {
		return errors.New("pan-os config move: empty xpath")
	}
	params := url.Values{"type": {"config"}, "action": {"move"}, "xpath": {xpath}, "where": {where}}
	switch where {
	case MoveTop, MoveBottom:
		if dst != "" {
			return fmt.Errorf("pan-os config move: where %q takes no dst", where)
		}
	case MoveBefore, MoveAfter:
		if dst == "" {
			return fmt.Errorf("pan-os config move: where %q needs dst", where)
		}
		params.Set("dst", dst)
	default:
		return fmt.Errorf("pan-os config move: where %q: want top, bottom, before or after", where)
	}
	_, err := c.do(ctx, request{op: "config move", params: params})
	return err
}

// Partial scopes a commit: only the changes of Admins (the administrators
// whose changes to take, normally the one the API key belongs to) and, on
// Panorama, only the listed device groups, templates and template stacks.
type Partial struct {
	Admins                                  []string
	DeviceGroups, Templates, TemplateStacks []string
}

// CommitPartial commits the part of the candidate configuration p selects
// and returns the commit job's id; 0 and no error when there was nothing to
// commit. Other administrators' pending changes stay uncommitted. Not
// retried.
func (c *Client) CommitPartial(ctx context.Context, p Partial) (int, error) {
	if len(p.Admins) == 0 {
		return 0, errors.New("pan-os partial commit: no administrator")
	}
	var b strings.Builder
	b.WriteString("<commit><partial>")
	for _, l := range []struct {
		tag   string
		names []string
	}{{"admin", p.Admins}, {"device-group", p.DeviceGroups}, {"template", p.Templates}, {"template-stack", p.TemplateStacks}} {
		if len(l.names) == 0 {
			continue
		}
		b.WriteString("<" + l.tag + ">")
		for _, n := range l.names {
			b.WriteString("<member>" + xmlEscape(n) + "</member>")
		}
		b.WriteString("</" + l.tag + ">")
	}
	b.WriteString("</partial></commit>")
	// The documented form (PAN-OS XML API, Commit): type=commit&action=partial.
	return c.commit(ctx, "partial commit", url.Values{"type": {"commit"}, "action": {"partial"}, "cmd": {b.String()}})
}

// PushTemplateStack pushes Panorama's configuration of a template stack to
// its devices (commit-all template-stack) and returns the job id; 0 when
// there was nothing to push. Not retried.
func (c *Client) PushTemplateStack(ctx context.Context, stack string) (int, error) {
	if stack == "" {
		return 0, errors.New("pan-os commit-all: empty template stack")
	}
	return c.commit(ctx, "commit-all", url.Values{
		"type": {"commit"}, "action": {"all"},
		"cmd": {"<commit-all><template-stack><name>" + xmlEscape(stack) + "</name></template-stack></commit-all>"},
	})
}

// Commit commits the candidate configuration and returns the commit job's
// id; 0 and no error when there was nothing to commit. Not retried.
func (c *Client) Commit(ctx context.Context) (int, error) {
	return c.commit(ctx, "commit", url.Values{"type": {"commit"}, "cmd": {"<commit></commit>"}})
}

// CommitAll pushes Panorama's configuration to the devices of deviceGroup
// (commit-all shared-policy), including its template stack's
// configuration when includeTemplate is set, and returns the job id; 0 when
// there was nothing to push. Not retried.
func (c *Client) CommitAll(ctx context.Context, deviceGroup string, includeTemplate bool) (int, error) {
	if deviceGroup == "" {
		return 0, errors.New("pan-os commit-all: empty device group")
	}
	return c.commit(ctx, "commit-all", url.Values{
		"type": {"commit"}, "action": {"all"}, "cmd": {commitAllCmd(deviceGroup, includeTemplate)},
	})
}

func commitAllCmd(deviceGroup string, includeTemplate bool) string {
	inc := "no"
	if includeTemplate {
		inc = "yes"
	}
	return `<commit-all><shared-policy><device-group><entry name="` + xmlEscape(deviceGroup) +
		`"/></device-group><include-template>` + inc + `</include-template></shared-policy></commit-all>`
}

func (c *Client) commit(ctx context.Context, op string, params url.Values) (int, error) {
	resp, err := c.do(ctx, request{op: op, params: params})
	if err != nil {
		return 0, err
	}
	id, ok, err := parseCommit(resp)
	if err != nil {
		return 0, fmt.Errorf("pan-os %s: %w", op, err)
	}
	if !ok {
		return 0, nil
	}
	return id, nil
}

// parseCommit returns the job id of a commit answer; ok is false when the
// device had nothing to commit.
func parseCommit(r *response) (id int, ok bool, err error) {
	if r.Result != nil {
		var x struct {
			Job string `xml:"job"`
		}
		if err := unmarshalFragment(r.Result, &x); err != nil {
			return 0, false, fmt.Errorf("%w: commit result: %v", ErrMalformed, err)
		}
		if j := strings.TrimSpace(x.Job); j != "" {
			n, err := strconv.Atoi(j)
			if err != nil || n <= 0 {
				return 0, false, fmt.Errorf("%w: commit job id %q", ErrMalformed, j)
			}
			return n, true, nil
		}
	}
	if strings.Contains(strings.ToLower(r.Message), "no changes") {
		return 0, false, nil
	}
	return 0, false, fmt.Errorf("%w: commit answer has neither a job id nor \"no changes\" (message %q)", ErrMalformed, r.Message)
}

// Job is a device job as reported by show jobs id.
type Job struct {
	ID       int
	Type     string // e.g. "Commit", "CommitAll"
	Status   string // "ACT", "PEND", "FIN"
	Result   string // "PEND", "OK", "FAIL"
	Progress int
	Details  []string
	Devices  []JobDevice // Panorama pushes: one per firewall
}

// JobDevice is one firewall's part of a Panorama push job.
type JobDevice struct {
	Serial  string
	Name    string
	Status  string
	Result  string
	Details []string
}

// Done reports whether the job has finished.
func (j *Job) Done() bool { return strings.EqualFold(j.Status, "FIN") }

// Failed reports whether a finished job failed: its result is not OK, or a
// device's result is not OK.
func (j *Job) Failed() bool {
	if !strings.EqualFold(j.Result, "OK") {
		return true
	}
	for _, d := range j.Devices {
		if !strings.EqualFold(d.Result, "OK") {
			return true
		}
	}
	return false
}

// Job returns the state of job id.
func (c *Client) Job(ctx context.Context, id int) (*Job, error) {
	if id <= 0 {
		return nil, fmt.Errorf("pan-os job: bad id %d", id)
	}
	res, err := c.Op(ctx, "<show><jobs><id>"+strconv.Itoa(id)+"</id></jobs></show>")
	if err != nil {
		return nil, fmt.Errorf("job %d: %w", id, err)
	}
	j, err := parseJob(res)
	if err != nil {
		return nil, fmt.Errorf("job %d: %w", id, err)
	}
	// Details end up in errors and logs.
	for i := range j.Details {
		j.Details[i] = c.scrub(j.Details[i])
	}
	for i := range j.Devices {
		for k := range j.Devices[i].Details {
			j.Devices[i].Details[k] = c.scrub(j.Devices[i].Details[k])
		}
	}
	return j, nil
}

// WaitJob polls job id every poll (default 1s) until it finishes. A job
// that finishes failed (result FAIL, or any device not OK) returns the job
// and a *JobError carrying the details.
func (c *Client) WaitJob(ctx context.Context, id int, poll time.Duration) (*Job, error) {
	if poll <= 0 {
		poll = time.Second
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		j, err := c.Job(ctx, id)
		if err != nil {
			return nil, err
		}
		if j.Done() {
			if j.Failed() {
				return j, &JobError{Job: j}
			}
			return j, nil
		}
		select {
		case <-ctx.Done():
			return j, fmt.Errorf("waiting for job %d (%s %d%%): %w", id, j.Status, j.Progress, ctx.Err())
		case <-t.C:
		}
	}
}

type xmlDetails struct {
	Inner []byte `xml:",innerxml"`
}

type xmlJob struct {
	ID       string      `xml:"id"`
	Type     string      `xml:"type"`
	Status   string      `xml:"status"`
	Result   string      `xml:"result"`
	Progress string      `xml:"progress"`
	Details  *xmlDetails `xml:"details"`
	Devices  []struct {
		Serial  string      `xml:"serial-no"`
		Name    string      `xml:"devicename"`
		Status  string      `xml:"status"`
		Result  string      `xml:"result"`
		Details *xmlDetails `xml:"details"`
	} `xml:"devices>entry"`
}

// parseJob parses the <result> of show jobs id.
func parseJob(result []byte) (*Job, error) {
	var x struct {
		Job []xmlJob `xml:"job"`
	}
	if err := unmarshalFragment(result, &x); err != nil {
		return nil, fmt.Errorf("%w: job result: %v", ErrMalformed, err)
	}
	if len(x.Job) == 0 {
		return nil, fmt.Errorf("%w: job answer has no <job>", ErrMalformed)
	}
	xj := x.Job[0]
	j := &Job{
		Type:    strings.TrimSpace(xj.Type),
		Status:  strings.TrimSpace(xj.Status),
		Result:  strings.TrimSpace(xj.Result),
		Details: xj.Details.lines(),
	}
	id, err := strconv.Atoi(strings.TrimSpace(xj.ID))
	if err != nil {
		return nil, fmt.Errorf("%w: job id %q", ErrMalformed, xj.ID)
	}
	j.ID = id
	if j.Status == "" {
		return nil, fmt.Errorf("%w: job %d has no status", ErrMalformed, id)
	}
	j.Progress, _ = strconv.Atoi(strings.TrimSpace(xj.Progress))
	for _, d := range xj.Devices {
		j.Devices = append(j.Devices, JobDevice{
			Serial: strings.TrimSpace(d.Serial), Name: strings.TrimSpace(d.Name),
			Status: strings.TrimSpace(d.Status), Result: strings.TrimSpace(d.Result),
			Details: d.Details.lines(),
		})
	}
	return j, nil
}

// lines returns every non-empty text inside <details> (its <line>s, or
// the <msg><errors><line>s of device details), in order.
func (d *xmlDetails) lines() []string {
	if d == nil {
		return nil
	}
	var out []string
	dec := xml.NewDecoder(strings.NewReader("<x>" + string(d.Inner) + "</x>"))
	for {
		tok, err := dec.Token()
		if err != nil {
			if !errors.Is(err, io.EOF) && len(out) == 0 {
				return []string{"(unparsable details)"}
			}
			return out
		}
		if cd, ok := tok.(xml.CharData); ok {
			if s := strings.TrimSpace(string(cd)); s != "" {
				out = append(out, s)
			}
		}
	}
}

func resultOrEmpty(r *response) []byte {
	if r.Result == nil {
		return []byte{}
	}
	return r.Result
}

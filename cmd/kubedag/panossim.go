package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubedag/kubedag/userid/panossim"
)

// panosSimOptions are the flags of kubedag panos-sim.
type panosSimOptions struct {
	Listen      string
	TLS         bool
	CAOut       string
	Capacity    int
	Users       []string
	Latency     time.Duration
	Panorama    bool
	Serial      string
	Model       string
	SWVersion   string
	Devices     []string
	AdvRouting  bool
	InjectError string // CODE:N
	FailCommits int
	FailPush    []string
	Permissions []string
	OutageAfter time.Duration
	OutageFor   time.Duration
	Control     bool
	Verbose     bool

	users       map[string]string
	injectCode  int
	injectCount int
	devices     []panossim.Device
	failPush    map[string]int
	permissions map[string][]string
}

func newPanosSimCmd() *cobra.Command {
	o := &panosSimOptions{}
	cmd := &cobra.Command{
		Use:   "panos-sim",
		Short: "Run the PAN-OS XML API emulator",
		Long: `panos-sim serves an emulated PAN-OS firewall (or, with --panorama, Panorama)
XML API on /api/: keygen, User-ID IP-tag register/unregister with timeouts
(and the login/logout, groups and user-tag sections other clients send),
show object registered-ip and dynamic-address-group (what each committed
DAG resolves to), show user ip-user-mapping, show system info, config get/show/set/edit/delete/
move/rename, commits (partial by admin, validated), Panorama device groups,
templates and commit-all pushes to emulated firewalls, show jobs. It is what
kubedag's tests, benchmarks and demo run against. TLS uses a throwaway
self-signed CA unless --tls=false.

Examples:
  kubedag panos-sim --listen 127.0.0.1:8443
  kubedag panos-sim --tls=false --capacity 1000 --users admin:admin,ro:secret
  kubedag panos-sim --panorama --latency 20ms --control --ca-out /tmp/panos-sim-ca.pem
  kubedag panos-sim --panorama --devices 007951000000001:fw-az1,007951000000002:fw-az2 --fail-push 007951000000002:1
  kubedag panos-sim --outage-after 30s --outage-for 10s --inject-error 22:3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "127.0.0.1:8443", "address to listen on (host:port; port 0 picks a free one)")
	f.BoolVar(&o.TLS, "tls", true, "serve HTTPS with a generated self-signed CA (false: plain HTTP)")
	f.StringVar(&o.CAOut, "ca-out", "", "write the generated CA certificate (PEM) to this file, for curl --cacert")
	f.IntVar(&o.Capacity, "capacity", panossim.DefaultCapacity, "registered-IP capacity")
	f.StringSliceVar(&o.Users, "users", []string{"admin:admin"}, "API users as user:password (repeat or comma-separate)")
	f.DurationVar(&o.Latency, "latency", 0, "delay added to every API call")
	f.BoolVar(&o.Panorama, "panorama", false, "behave as Panorama (device groups, templates, commit-all push)")
	f.StringVar(&o.Serial, "serial", "", "this device's serial (default "+panossim.DefaultSerial+", or "+panossim.DefaultPanoramaSerial+" with --panorama)")
	f.StringVar(&o.Model, "model", "", "model reported by show system info and type=version (default PA-VM, or Panorama)")
	f.StringVar(&o.SWVersion, "sw-version", panossim.DefaultSWVersion, "PAN-OS version reported")
	f.StringSliceVar(&o.Devices, "devices", nil, "with --panorama: managed firewalls as SERIAL[:NAME] (repeat or comma-separate; default one, "+panossim.DefaultSerial+")")
	f.BoolVar(&o.AdvRouting, "advanced-routing", false, "firewall with PAN-OS 11 advanced routing (logical-router \"default\" instead of virtual-router \"default\")")
	f.StringVar(&o.InjectError, "inject-error", "", "fail the first N API calls with PAN-OS error CODE, as CODE:N")
	f.DurationVar(&o.OutageAfter, "outage-after", 0, "start an outage window (HTTP 503) this long after start (with --outage-for)")
	f.DurationVar(&o.OutageFor, "outage-for", 0, "length of the outage window; 0 = none")
	f.IntVar(&o.FailCommits, "fail-commits", 0, "let the first N commit jobs finish with result FAIL")
	f.StringSliceVar(&o.Permissions, "api-permissions", nil, "limit a user's XML API request types as an admin role does, as USER:TYPE+TYPE (e.g. kubedag:config+op+commit); unlisted users are superusers")
	f.StringSliceVar(&o.FailPush, "fail-push", nil, "with --panorama: fail the first N pushes to one managed firewall, as SERIAL:N")
	f.BoolVar(&o.Control, "control", false, "serve unauthenticated test-control endpoints under /_sim/ (reboot, outage, latency, inject, stats)")
	f.BoolVar(&o.Verbose, "verbose", false, "log every API call (never keys or passwords) to stderr")
	return cmd
}

// Validate checks the flags and parses users and error injection.
func (o *panosSimOptions) Validate() error {
	if _, _, err := net.SplitHostPort(o.Listen); err != nil {
		return fmt.Errorf("--listen %q: %w", o.Listen, err)
	}
	if o.Capacity < 1 {
		return fmt.Errorf("--capacity must be at least 1, got %d", o.Capacity)
	}
	if o.Latency < 0 {
		return fmt.Errorf("--latency must not be negative, got %s", o.Latency)
	}
	if o.OutageAfter < 0 || o.OutageFor < 0 {
		return fmt.Errorf("--outage-after and --outage-for must not be negative")
	}
	if o.FailCommits < 0 {
		return fmt.Errorf("--fail-commits must not be negative, got %d", o.FailCommits)
	}
	o.users = map[string]string{}
	for _, u := range o.Users {
		name, pass, ok := strings.Cut(u, ":")
		if !ok || name == "" || pass == "" {
			// Never echo the value: it holds a password.
			return errors.New("--users entries must be user:password with both parts non-empty")
		}
		o.users[name] = pass
	}
	if len(o.users) == 0 {
		return errors.New("--users must name at least one user")
	}
	o.devices = nil
	for _, d := range o.Devices {
		serial, name, _ := strings.Cut(d, ":")
		if serial == "" {
			return fmt.Errorf("--devices %q: want SERIAL[:NAME]", d)
		}
		o.devices = append(o.devices, panossim.Device{Serial: serial, Name: name})
	}
	o.permissions = map[string][]string{}
	for _, p := range o.Permissions {
		user, types, ok := strings.Cut(p, ":")
		if !ok || user == "" || types == "" {
			return fmt.Errorf("--api-permissions %q: want USER:TYPE+TYPE, e.g. kubedag:config+op+commit", p)
		}
		o.permissions[user] = strings.Split(types, "+")
	}
	o.failPush = map[string]int{}
	for _, fp := range o.FailPush {
		serial, n, ok := strings.Cut(fp, ":")
		count, err := strconv.Atoi(n)
		if !ok || serial == "" || err != nil || count < 1 {
			return fmt.Errorf("--fail-push %q: want SERIAL:N, e.g. 007200000000001:1", fp)
		}
		o.failPush[serial] = count
	}
	if (len(o.devices) > 0 || len(o.failPush) > 0) && !o.Panorama {
		return errors.New("--devices and --fail-push need --panorama")
	}
	if o.InjectError != "" {
		c, n, ok := strings.Cut(o.InjectError, ":")
		code, err1 := strconv.Atoi(c)
		count, err2 := strconv.Atoi(n)
		if !ok || err1 != nil || err2 != nil || count < 1 {
			return fmt.Errorf("--inject-error %q: want CODE:N, e.g. 22:3", o.InjectError)
		}
		o.injectCode, o.injectCount = code, count
	}
	return nil
}

// Run serves until ctx ends.
func (o *panosSimOptions) Run(ctx context.Context, out, errOut io.Writer) error {
	level := slog.LevelInfo
	if o.Verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewJSONHandler(errOut, &slog.HandlerOptions{Level: level}))
	srv, err := panossim.Start(panossim.Config{
		Users:           o.users,
		Capacity:        o.Capacity,
		Panorama:        o.Panorama,
		Serial:          o.Serial,
		Model:           o.Model,
		SWVersion:       o.SWVersion,
		Devices:         o.devices,
		AdvancedRouting: o.AdvRouting,
		APIPermissions:  o.permissions,
		Control:         o.Control,
		Logger:          logger,
	}, o.TLS, o.Listen)
	if err != nil {
		return fmt.Errorf("start emulator: %w", err)
	}
	srv.Sim.SetLatency(o.Latency)
	if o.injectCount > 0 {
		srv.Sim.InjectError(o.injectCode, o.injectCount)
	}
	if o.FailCommits > 0 {
		srv.Sim.FailCommits(o.FailCommits, "")
	}
	for serial, n := range o.failPush {
		srv.Sim.FailPush(serial, n, "")
	}
	if o.OutageFor > 0 {
		from := time.Now().Add(o.OutageAfter)
		srv.Sim.ScheduleOutage(from, from.Add(o.OutageFor))
	}
	curl := "curl -sk"
	if o.CAOut != "" {
		if err := os.WriteFile(o.CAOut, srv.CACertPEM, 0o644); err != nil {
			_ = srv.Close()
			return fmt.Errorf("write --ca-out: %w", err)
		}
		curl = "curl -s --cacert " + o.CAOut
	}
	if !o.TLS {
		curl = "curl -s"
	}
	o.printUsage(out, srv.URL, curl)
	if host, _, _ := net.SplitHostPort(o.Listen); o.Control && !isLoopback(host) {
		logger.Warn("panos-sim --control endpoints are unauthenticated and reachable beyond this host", "listen", o.Listen)
	}
	logger.Info("panos-sim serving", "url", srv.URL+"/api/", "panorama", o.Panorama, "capacity", o.Capacity)

	<-ctx.Done()
	if err := srv.Close(); err != nil {
		return fmt.Errorf("stop emulator: %w", err)
	}
	logger.Info("panos-sim stopped")
	return nil
}

func (o *panosSimOptions) printUsage(w io.Writer, url, curl string) {
	kind := "firewall"
	if o.Panorama {
		kind = "Panorama"
	}
	user := "admin"
	if _, ok := o.users[user]; !ok {
		for u := range o.users {
			user = u
			break
		}
	}
	pass := "PASSWORD"
	if len(o.users) == 1 && o.users["admin"] == "admin" {
		// The factory default, not a secret; any other password stays unprinted.
		pass = "admin"
	}
	api := url + "/api/"
	fmt.Fprintf(w, `PAN-OS XML API emulator (%s) listening on %s

Get an API key:
  KEY=$(%s '%s' --data-urlencode type=keygen --data-urlencode user=%s --data-urlencode password=%s | sed -n 's:.*<key>\(.*\)</key>.*:\1:p')

Register an IP-tag mapping:
  %s -H "X-PAN-KEY: $KEY" '%s' --data-urlencode type=user-id --data-urlencode cmd='<uid-message><version>2.0</version><type>update</type><payload><register><entry ip="10.1.2.3"><tag><member timeout="3600">k8s.ns_demo</member></tag></entry></register></payload></uid-message>'

Show registered IPs, and the members of every committed Dynamic Address Group:
  %s -H "X-PAN-KEY: $KEY" '%s' --data-urlencode type=op --data-urlencode cmd='<show><object><registered-ip><all/></registered-ip></object></show>'
  %s -H "X-PAN-KEY: $KEY" '%s' --data-urlencode type=op --data-urlencode cmd='<show><object><dynamic-address-group><all/></dynamic-address-group></object></show>'

Add an address object and commit only your own changes (then poll: cmd='<show><jobs><id>N</id></jobs></show>'):
  %s -H "X-PAN-KEY: $KEY" '%s' --data-urlencode type=config --data-urlencode action=set --data-urlencode xpath="%s/address" --data-urlencode element='<entry name="web"><fqdn>web.example.com</fqdn></entry>'
  %s -H "X-PAN-KEY: $KEY" '%s' --data-urlencode type=commit --data-urlencode action=partial --data-urlencode cmd='<commit><partial><admin><member>%s</member></admin></partial></commit>'

`, kind, api, curl, api, user, pass, curl, api, curl, api, curl, api, curl, api, o.objectsXPath(), curl, api, user)
}

// objectsXPath is where the usage example puts an address object: vsys1,
// or on Panorama a device group "demo".
func (o *panosSimOptions) objectsXPath() string {
	if o.Panorama {
		return "/config/devices/entry[@name='localhost.localdomain']/device-group/entry[@name='demo']"
	}
	return "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']"
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

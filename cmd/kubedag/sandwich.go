package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/aggregator/sandwich"
)

func newSandwichCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sandwich",
		Short: "The EKS load-balancer sandwich (firewall config for labelled Services)",
	}
	cmd.AddCommand(newSandwichStatusCmd())
	return cmd
}

type sandwichStatusOptions struct {
	url     string
	output  string
	timeout time.Duration
}

func newSandwichStatusCmd() *cobra.Command {
	o := &sandwichStatusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show labelled Services and what kubedag keeps for them on each target",
		Long: `Reads the leading aggregator's status page (its health port, ` + aggregator.SandwichStatusPath + `) and
lists each labelled Service (firewall port, Service port, ILB, problem) and, per
target, the objects and rules kubedag keeps and the last commit (and push) job.

Example:
  kubectl -n kubedag port-forward deploy/kubedag-aggregator 9090 &
  kubedag sandwich status --url http://127.0.0.1:9090`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "http://127.0.0.1:9090", "the aggregator's health port (--health-listen)")
	f.StringVarP(&o.output, "output", "o", "text", "text or json")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "request timeout")
	return cmd
}

func (o *sandwichStatusOptions) validate() error {
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url: %q: want http://host:port", o.url)
	}
	if o.output != "text" && o.output != "json" {
		return fmt.Errorf("--output: %q: want text or json", o.output)
	}
	if o.timeout <= 0 {
		return errors.New("--timeout: must be positive")
	}
	return nil
}

func (o *sandwichStatusOptions) run(ctx context.Context, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(o.url, "/")+aggregator.SandwichStatusPath, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("sandwich status: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("sandwich status: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sandwich status: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var st sandwich.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("sandwich status: %w", err)
	}
	if o.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return printSandwichStatus(out, st)
}

func printSandwichStatus(out io.Writer, st sandwich.Status) error {
	fmt.Fprintf(out, "Cluster %s\n\n", st.Cluster)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tPORT\tSERVICE PORT\tILB\tSTATE")
	dash := func(n int) string {
		if n == 0 {
			return "-"
		}
		return fmt.Sprint(n)
	}
	for _, s := range st.Services {
		state := "ok"
		if len(s.Problems) > 0 {
			state = strings.Join(s.Problems, "; ")
		}
		host := s.Hostname
		if host == "" {
			host = "-"
		}
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\n", s.Namespace, s.Name, dash(s.Port), dash(s.TargetPort), host, state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if inv := st.Inventory; inv != nil {
		fmt.Fprintf(out, "\nInventory (%s", inv.Source)
		if !inv.ReadAt.IsZero() {
			fmt.Fprintf(out, ", read %s", inv.ReadAt.Format(time.RFC3339))
		}
		fmt.Fprintf(out, "): %d subnets, %d firewalls, %d load balancers\n", len(inv.Subnets), len(inv.Firewalls), inv.LoadBalancers)
		for _, s := range inv.Subnets {
			fmt.Fprintf(out, "  subnet    %s\n", s)
		}
		for _, f := range inv.Firewalls {
			fmt.Fprintf(out, "  firewall  %s\n", f)
		}
		if inv.Error != "" {
			fmt.Fprintf(out, "  last read failed (the inventory above stays in use): %s\n", inv.Error)
		}
		for _, p := range inv.Problems {
			fmt.Fprintf(out, "  problem   %s\n", p)
		}
	}
	for _, t := range st.Targets {
		state := "ok"
		if t.LastError != "" {
			state = "error: " + t.LastError
		}
		fmt.Fprintf(out, "\nTarget %s: %d entries, last sync %s (%s)\n", t.Name, t.Managed, t.LastSync.Format(time.RFC3339), state)
		for _, j := range []struct {
			what string
			job  *sandwich.JobStatus
		}{{"commit", t.LastCommit}, {"push", t.LastPush}} {
			if j.job == nil {
				continue
			}
			fmt.Fprintf(out, "  last %s: job %d %s at %s", j.what, j.job.ID, j.job.Result, j.job.At.Format(time.RFC3339))
			if len(j.job.Details) > 0 && j.job.Result != "OK" {
				fmt.Fprintf(out, ": %s", strings.Join(j.job.Details, "; "))
			}
			fmt.Fprintln(out)
			for _, d := range j.job.Devices {
				fmt.Fprintf(out, "    device %s (%s): %s %s\n", d.Name, d.Serial, d.Result, strings.Join(d.Details, "; "))
			}
		}
		keys := make([]string, 0, len(t.Entries))
		for k := range t.Entries {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			who := k
			if who == "" {
				who = "(cluster)"
			}
			fmt.Fprintf(out, "  %s:\n", who)
			for _, e := range t.Entries[k] {
				fmt.Fprintf(out, "    %s\n", e)
			}
		}
	}
	return nil
}

package charts

import (
	"testing"

	"github.com/kubedag/kubedag/aggregator/config"
)

// TestRenderedConfigLoads feeds the ConfigMap the chart renders to the
// aggregator's own config parser (strict: an unknown or misspelt field fails),
// so chart and command agree on the file format.
func TestRenderedConfigLoads(t *testing.T) {
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			objs := mustTemplate(t, tc.args...)
			cm := find(t, objs, "ConfigMap", "-aggregator-config")
			raw := str(get(cm, "data", "config.yaml"))
			cfg, err := config.Parse([]byte(raw))
			if err != nil {
				t.Fatalf("aggregator rejects the rendered config: %v\n%s", err, raw)
			}
			if len(cfg.Targets) != len(tc.targets) {
				t.Fatalf("parsed %d targets, want %d", len(cfg.Targets), len(tc.targets))
			}
			for i, want := range tc.targets {
				got := cfg.Targets[i]
				if got.Name != want.name {
					t.Errorf("targets[%d].Name %q, want %q", i, got.Name, want.name)
				}
				if (want.auth == "password") != (got.UsernameFile != "" && got.PasswordFile != "" && got.APIKeyFile == "") {
					t.Errorf("targets[%d] auth %s parsed as apiKeyFile=%q usernameFile=%q passwordFile=%q",
						i, want.auth, got.APIKeyFile, got.UsernameFile, got.PasswordFile)
				}
				if want.ca != (got.CAFile != "") {
					t.Errorf("targets[%d].CAFile %q, want set=%v", i, got.CAFile, want.ca)
				}
			}
		})
	}
}

package tags

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring naming the field; "" = valid
		check   func(t *testing.T, c Config)
	}{
		{name: "defaults", cfg: Config{Cluster: "prod"}, check: func(t *testing.T, c Config) {
			if c.Preset != PresetK8s || c.Prefix != "k8s.cl_prod" || c.MaxTags != 32 ||
				!slices.Equal(c.Kinds, []Kind{KindPod, KindService}) {
				t.Errorf("defaults not filled: %+v", c)
			}
		}},
		{name: "aks defaults", cfg: Config{Preset: PresetAKS, Cluster: "east"}, check: func(t *testing.T, c Config) {
			if c.Prefix != "aks.east" || !slices.Equal(c.Kinds, []Kind{KindService}) {
				t.Errorf("aks defaults: %+v", c)
			}
		}},
		{name: "custom defaults", cfg: Config{Preset: PresetCustom, Cluster: "c", Template: "x"}, check: func(t *testing.T, c Config) {
			if c.Prefix != "kubedag.cl_c" {
				t.Errorf("custom prefix: %q", c.Prefix)
			}
		}},
		{name: "missing cluster", cfg: Config{}, wantErr: "Cluster: required"},
		{name: "cluster with dot", cfg: Config{Cluster: "prod.eu"}, wantErr: "Cluster:"},
		{name: "cluster with slash", cfg: Config{Cluster: "a/b"}, wantErr: "Cluster:"},
		{name: "cluster too long", cfg: Config{Cluster: strings.Repeat("c", 49)}, wantErr: "Cluster:"},
		{name: "unknown preset", cfg: Config{Preset: "gke", Cluster: "c"}, wantErr: "Preset:"},
		{name: "bad prefix chars", cfg: Config{Cluster: "c", Prefix: "a b"}, wantErr: "Prefix:"},
		{name: "prefix trailing dot", cfg: Config{Cluster: "c", Prefix: "kd."}, wantErr: "Prefix:"},
		{name: "prefix double dot", cfg: Config{Cluster: "c", Prefix: "kd..c"}, wantErr: "Prefix:"},
		{name: "prefix too long", cfg: Config{Cluster: "c", Prefix: strings.Repeat("p", 65)}, wantErr: "Prefix:"},
		{name: "aks prefix fixed", cfg: Config{Preset: PresetAKS, Cluster: "c", Prefix: "corp"}, wantErr: "Prefix:"},
		{name: "aks default prefix spelled out", cfg: Config{Preset: PresetAKS, Cluster: "c", Prefix: "aks.c"}},
		{name: "custom needs template", cfg: Config{Preset: PresetCustom, Cluster: "c"}, wantErr: "Template: required"},
		{name: "template parse error", cfg: Config{Preset: PresetCustom, Cluster: "c", Template: "{{.Name"}, wantErr: "Template:"},
		{name: "template without custom", cfg: Config{Cluster: "c", Template: "x"}, wantErr: "Template:"},
		{name: "empty allow pattern", cfg: Config{Cluster: "c", LabelAllow: []string{"app", ""}}, wantErr: "LabelAllow[1]"},
		{name: "empty deny pattern", cfg: Config{Cluster: "c", LabelDeny: []string{""}}, wantErr: "LabelDeny[0]"},
		{name: "unknown kind", cfg: Config{Cluster: "c", Kinds: []Kind{KindPod, "Node"}}, wantErr: "Kinds[1]"},
		{name: "max tags over 32", cfg: Config{Cluster: "c", MaxTags: 33}, wantErr: "MaxTags:"},
		{name: "max tags negative", cfg: Config{Cluster: "c", MaxTags: -1}, wantErr: "MaxTags:"},
		{name: "max tags lower", cfg: Config{Cluster: "c", MaxTags: 8}, check: func(t *testing.T, c Config) {
			if c.MaxTags != 8 {
				t.Errorf("MaxTags = %d", c.MaxTags)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
			if err != nil {
				// Callers map the field by type, not by parsing the text.
				var fe *FieldError
				if !errors.As(err, &fe) || !strings.HasPrefix(tt.wantErr, fe.Field) ||
					strings.Contains(tt.wantErr, "[") != (fe.Index >= 0) {
					t.Fatalf("error %v is not a *FieldError for %q (got %+v)", err, tt.wantErr, fe)
				}
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestNewDeriverRejectsTemplateFailingOnSample(t *testing.T) {
	_, err := NewDeriver(Config{Preset: PresetCustom, Cluster: "c", Template: "{{.NoSuchField}}"})
	if err == nil || !strings.Contains(err.Error(), "Template:") {
		t.Fatalf("error = %v, want a Template error", err)
	}
}

func TestNewDeriverDoesNotAliasConfig(t *testing.T) {
	cfg := Config{Cluster: "c", LabelDeny: []string{"x"}}
	d := mustDeriver(t, cfg)
	cfg.LabelDeny[0] = "app"
	s, _ := d.Tags(Identity{Kind: KindPod, Namespace: "n", Name: "p", Labels: map[string]string{"app": "a"}})
	if !s.Has("k8s.cl_c.ns_n.app.a") {
		t.Fatalf("changing the caller's Config changed the Deriver: %v", s)
	}
}

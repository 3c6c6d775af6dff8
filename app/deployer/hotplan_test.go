package deployer

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"deployex/app"
)

func TestConsultTerms(t *testing.T) {
	src := `%% coding: utf-8
{"2.0.0", % the version
 [{<<"1\\.0\\..*">>, [{load_module, 'Elixir.Foo', soft_purge, soft_purge, []},
   {apply, {m, f, [-1, 16#ff, 2.5e3, $a, $\n, "tab\there", #{k => [x | y]}, <<>>]}}]}],
 []}.
ok.
`
	got, err := consultTerms(src)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{
		erlTuple{"2.0.0",
			erlList{erlTuple{erlBinary(`1\.0\..*`), erlList{
				erlTuple{erlAtom("load_module"), erlAtom("Elixir.Foo"), erlAtom("soft_purge"), erlAtom("soft_purge"), erlList(nil)},
				erlTuple{erlAtom("apply"), erlTuple{erlAtom("m"), erlAtom("f"), erlList{
					int64(-1), int64(255), 2500.0, int64('a'), int64('\n'), "tab\there",
					erlList{erlTuple{erlAtom("k"), erlList{erlAtom("x"), erlAtom("y")}}}, erlBinary(""),
				}}},
			}}},
			erlList(nil)},
		erlAtom("ok"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}
	for _, bad := range []string{`{"a", b`, `{a}`, `"open.`, `{a b}.`, `[1,].`, `<<1>>.`} {
		if _, err := consultTerms(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// releaseDir lays out the files hotUpgradable reads, under a temp dir.
func releaseDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestHotUpgradable(t *testing.T) {
	const (
		appup = `{"2.0.0", [{"1.0.0", [{load_module, m}]}], [{"1.0.0", []}]}.`
		relup = `%% coding: utf-8
{"2.0.0",
 [{"1.0.0",[],[{load_object_code,{a,"2.0.0",[m]}},point_of_no_return,{load,{m,brutal_purge,brutal_purge}}]}],
 [{"1.0.0",[],[point_of_no_return]}]}.`
		appupPath = "lib/a-2.0.0/ebin/a.appup"
		relupPath = "releases/2.0.0/relup"
		jellyPath = "lib/a-2.0.0/ebin/jellyfish.json"
	)
	erlang := app.Spec{Name: "a", Language: app.Erlang}
	for _, tc := range []struct {
		name  string
		spec  app.Spec
		from  string
		files map[string]string
		want  string // "" = hot
	}{
		{"hot", erlang, "1.0.0", map[string]string{appupPath: appup, relupPath: relup}, ""},
		{"elixir with jellyfish", app.Spec{Name: "a", Language: app.Elixir}, "1.0.0",
			map[string]string{appupPath: appup, relupPath: relup, jellyPath: `{"from": "1.0.0", "to": "2.0.0", "type": "project"}`}, ""},
		{"appup regexp", erlang, "1.0.3", map[string]string{
			appupPath: `{"2.0.0", [{<<"1\\.0\\.[0-9]+">>, []}], []}.`,
			relupPath: strings.ReplaceAll(relup, `"1.0.0"`, `"1.0.3"`)}, ""},
		{"gleam", app.Spec{Name: "a", Language: app.Gleam}, "1.0.0", map[string]string{appupPath: appup, relupPath: relup}, "gleam"},
		{"first deployment", erlang, "", map[string]string{appupPath: appup, relupPath: relup}, "first deployment"},
		{"no appup", erlang, "1.0.0", map[string]string{relupPath: relup}, "no lib/a-2.0.0/ebin/a.appup"},
		{"appup from another version", erlang, "0.9.0", map[string]string{appupPath: appup, relupPath: relup}, "no upgrade from 0.9.0"},
		{"appup of another version", erlang, "1.0.0", map[string]string{
			appupPath: strings.Replace(appup, `"2.0.0"`, `"2.0.1"`, 1), relupPath: relup}, "is for version 2.0.1"},
		{"no relup: the node makes one", erlang, "1.0.0", map[string]string{appupPath: appup}, ""},
		{"relup from another version", erlang, "1.0.3", map[string]string{
			appupPath: `{"2.0.0", [{<<"1\\..*">>, []}], []}.`, relupPath: relup}, "relup: no upgrade from 1.0.3"},
		{"malformed appup", erlang, "1.0.0", map[string]string{appupPath: `{"2.0.0", [`, relupPath: relup}, "a.appup: line 1"},
		{"jellyfish for another upgrade", app.Spec{Name: "a", Language: app.Elixir}, "1.0.0",
			map[string]string{appupPath: appup, relupPath: relup, jellyPath: `{"from": "0.9.0", "to": "2.0.0"}`}, "jellyfish.json is for 0.9.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := hotUpgradable(tc.spec, releaseDir(t, tc.files), tc.from, "2.0.0")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want hot, got %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("want an error with %q, got %v", tc.want, err)
			}
		})
	}
}

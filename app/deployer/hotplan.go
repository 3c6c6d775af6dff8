package deployer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"deployex/app"
)

// hotUpgradable says whether the release of version to unpacked in dir can be
// installed by release_handler on a node running version from, reading only
// the release's files; nil means yes, an error says why not (a full
// deployment then). What it asks, as the seed does:
//   - lib/{app}-{to}/ebin/{app}.appup upgrades from `from` to `to`;
//   - if the release was built with Jellyfish, its
//     lib/{app}-{to}/ebin/jellyfish.json names the same two versions;
//   - releases/{to}/relup, when the release ships one, has a script from
//     `from`; without one the node generates it with systools:make_relup
//     from the appups (otp.Node.HotUpgrade).
//
// Gleam shipments carry no release_handler: never hot.
func hotUpgradable(spec app.Spec, dir, from, to string) error {
	if spec.Language == app.Gleam {
		return errors.New("gleam shipments have no release_handler: full deployments only")
	}
	if from == "" {
		return errors.New("first deployment of this replica")
	}
	ebin := filepath.Join(dir, "lib", spec.Name+"-"+to, "ebin")
	appup, err := readTerm(filepath.Join(ebin, spec.Name+".appup"))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no lib/%s-%s/ebin/%s.appup", spec.Name, to, spec.Name)
	}
	if err != nil {
		return err
	}
	if err := upgradePath(appup, from, to, 2); err != nil {
		return fmt.Errorf("appup: %w", err)
	}
	if err := checkJellyfish(filepath.Join(ebin, "jellyfish.json"), from, to); err != nil {
		return err
	}
	relup, err := readTerm(filepath.Join(dir, "releases", to, "relup"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := upgradePath(relup, from, to, 3); err != nil {
		return fmt.Errorf("relup: %w", err)
	}
	return nil
}

// readTerm reads a file that holds one Erlang term, as appups and relups do.
func readTerm(path string) (any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	terms, err := consultTerms(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	if len(terms) != 1 {
		return nil, fmt.Errorf("%s: want one term, found %d", filepath.Base(path), len(terms))
	}
	return terms[0], nil
}

// upgradePath checks that an appup ({To, [{From, Instrs}], Down}, arity 2 per
// entry) or a relup ({To, [{From, Descr, Instrs}], Down}, arity 3) is for
// version to and has an upgrade script from version from. An appup's From
// may be a <<"regular expression">> matching whole versions.
func upgradePath(t any, from, to string, arity int) error {
	top, ok := t.(erlTuple)
	if !ok || len(top) != 3 {
		return errors.New("not a {Vsn, UpFrom, DownTo} tuple")
	}
	if vsn, _ := top[0].(string); vsn != to {
		return fmt.Errorf("is for version %v, not %s", top[0], to)
	}
	ups, ok := top[1].(erlList)
	if !ok {
		return errors.New("upgrade scripts are not a list")
	}
	var seen []any
	for _, u := range ups {
		entry, ok := u.(erlTuple)
		if !ok || len(entry) != arity {
			return fmt.Errorf("malformed upgrade entry %v", u)
		}
		if versionMatches(entry[0], from) {
			return nil
		}
		seen = append(seen, entry[0])
	}
	return fmt.Errorf("no upgrade from %s (only from %v)", from, seen)
}

func versionMatches(pattern any, vsn string) bool {
	switch p := pattern.(type) {
	case string:
		return p == vsn
	case erlBinary:
		// release_handler matches the whole version with re; RE2 reads the
		// patterns appups use (dots, classes, .*) the same way.
		re, err := regexp.Compile(`^(?:` + string(p) + `)$`)
		return err == nil && re.MatchString(vsn)
	}
	return false
}

// checkJellyfish reads the jellyfish.json that Jellyfish (an Elixir library
// that generates appups) puts next to the appup; a release without one is
// fine. Jellyfish describes the upgrade its appup was generated for.
func checkJellyfish(path, from, to string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var info struct{ From, To string }
	if err := json.Unmarshal(b, &info); err != nil {
		return fmt.Errorf("jellyfish.json: %w", err)
	}
	if info.From != from || info.To != to {
		return fmt.Errorf("jellyfish.json is for %s → %s, not %s → %s", info.From, info.To, from, to)
	}
	return nil
}

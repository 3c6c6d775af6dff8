# Built by deployex's fixture helper with `MIX_ENV=prod mix release`; the
# version and variant come from FIXTURE_* variables at build time.
defmodule Exfix.MixProject do
  use Mix.Project

  def project do
    [
      app: :exfix,
      version: System.get_env("FIXTURE_VSN", "0.1.0"),
      elixir: "~> 1.14",
      start_permanent: true,
      deps: [],
      releases: [
        exfix: [include_executables_for: [:unix], steps: [:assemble, &relup/1, :tar]]
      ]
    ]
  end

  def application do
    [
      extra_applications: [:logger, :sasl],
      mod: {Exfix.Application, []},
      env: [
        crash_at_boot: System.get_env("FIXTURE_CRASH_AT_BOOT", "false") == "true",
        exit_after_ms: String.to_integer(System.get_env("FIXTURE_EXIT_AFTER_MS", "0"))
      ]
    ]
  end

  # A hot-upgrade variant (FIXTURE_APPUP set): mix makes neither appups nor
  # relups, so the release gets the hand-written appup and a relup that
  # systools makes against the old release unpacked in FIXTURE_OLD_RELEASE,
  # as a project without Jellyfish would do in a custom release step.
  defp relup(release) do
    case System.get_env("FIXTURE_APPUP") do
      nil -> release
      appup -> add_relup(release, appup, System.fetch_env!("FIXTURE_OLD_RELEASE"), System.fetch_env!("FIXTURE_UPGRADE_FROM"))
    end
  end

  defp add_relup(release, appup, old_root, from) do
    name = Atom.to_string(release.name)
    ebin = Path.join([release.path, "lib", "#{name}-#{release.version}", "ebin"])
    File.cp!(appup, Path.join(ebin, "#{name}.appup"))
    rel = fn root, vsn -> String.to_charlist(Path.join([root, "releases", vsn, name])) end
    old = rel.(old_root, from)
    opts = [
      path: [~c"#{old_root}/lib/*/ebin", ~c"#{release.path}/lib/*/ebin"],
      outdir: ~c"#{Path.join([release.path, "releases", release.version])}",
      silent: true
    ]

    case :systools.make_relup(rel.(release.path, release.version), [old], [old], opts) do
      {:ok, _relup, _mod, _warnings} -> release
      {:error, mod, reason} -> Mix.raise("make_relup: #{mod.format_error(reason)}")
    end
  end
end

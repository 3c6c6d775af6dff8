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
        exfix: [include_executables_for: [:unix], steps: [:assemble, :tar]]
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
end

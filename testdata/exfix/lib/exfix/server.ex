defmodule Exfix.Server do
  @moduledoc """
  The behaviour deployex's tests drive; the same line protocol as
  testdata/shared/fixture_server.erl, on 127.0.0.1:$PORT:
  version, code_version, os_pid, node, crash, ignore_term, print <text>.
  Build-time variants: `crash_at_boot` and `exit_after_ms` in the app env.
  """
  use Task, restart: :permanent

  # Changes only when this module's new code is loaded (a hot upgrade), unlike
  # the application's vsn, which release_handler updates with the app data.
  @code_version Mix.Project.config()[:version]

  def start_link(_) do
    vsn = Application.spec(:exfix, :vsn)

    if Application.fetch_env!(:exfix, :crash_at_boot) do
      IO.puts(:stderr, "exfix #{vsn} crashing at boot")
      System.halt(1)
    end

    port = String.to_integer(System.get_env("PORT", "0"))

    {:ok, listen} =
      :gen_tcp.listen(port, [:binary, packet: :line, active: false, reuseaddr: true, ip: :loopback])

    case Application.fetch_env!(:exfix, :exit_after_ms) do
      0 -> :ok
      ms -> spawn(fn -> exit_after(ms) end)
    end

    IO.puts("exfix #{vsn} booted on port #{port}")
    Task.start_link(__MODULE__, :accept, [listen])
  end

  defp exit_after(ms) do
    Process.sleep(ms)
    IO.puts(:stderr, "exfix exiting after #{ms} ms as built")
    System.halt(1)
  end

  # Fully qualified calls so a hot upgrade moves the loops onto new code; the
  # accept timeout makes the idle loop move within a second.
  def accept(listen) do
    case :gen_tcp.accept(listen, 1000) do
      {:ok, sock} ->
        pid = spawn(fn -> receive do: (:go -> __MODULE__.serve(sock)) end)
        :ok = :gen_tcp.controlling_process(sock, pid)
        send(pid, :go)

      {:error, :timeout} ->
        :ok
    end

    __MODULE__.accept(listen)
  end

  def serve(sock) do
    case :gen_tcp.recv(sock, 0) do
      {:ok, line} ->
        :gen_tcp.send(sock, [reply(String.trim_trailing(line, "\n") |> String.trim_trailing("\r")), ?\n])
        __MODULE__.serve(sock)

      {:error, _} ->
        :ok
    end
  end

  defp reply("version"), do: to_string(Application.spec(:exfix, :vsn))
  defp reply("code_version"), do: @code_version
  defp reply("os_pid"), do: System.pid()
  defp reply("node"), do: Atom.to_string(node())
  defp reply("crash"), do: System.halt(1)

  defp reply("ignore_term") do
    :ok = :os.set_signal(:sigterm, :ignore)
    "ok"
  end

  defp reply("print " <> text) do
    IO.puts(text)
    IO.puts(:stderr, text)
    "ok"
  end

  defp reply(other), do: "error unknown command: " <> other
end

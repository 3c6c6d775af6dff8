defmodule Exfix.Application do
  @moduledoc false
  use Application

  @impl true
  def start(_type, _args) do
    Supervisor.start_link([Exfix.Server], strategy: :one_for_one, max_restarts: 0, name: Exfix.Supervisor)
  end
end

%% What `gleam build` would emit for a Gleam app whose main starts a server
%% and sleeps forever (process.sleep_forever()).
-module(gleamfix).
-export([main/0]).

main() ->
    {ok, _} = fixture_server:start_link(gleamfix),
    receive after infinity -> nil end.

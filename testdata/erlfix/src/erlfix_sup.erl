-module(erlfix_sup).
-behaviour(supervisor).
-export([start_link/0, init/1]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    Server = #{id => fixture_server, start => {fixture_server, start_link, [erlfix]}},
    {ok, {#{strategy => one_for_one, intensity => 0, period => 1}, [Server]}}.

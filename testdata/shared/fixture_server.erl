%% fixture_server: the behaviour deployex's tests drive in every fixture that
%% runs Erlang code (erlfix, gleamfix). One line in, one line out, on
%% 127.0.0.1:$PORT:
%%   version        -> the application's vsn (follows hot upgrades)
%%   code_version   -> the version this module was built for (?FIXTURE_VSN):
%%                     changes only when new code is loaded, so a test can
%%                     tell a hot code change from new application data
%%   os_pid         -> the VM's OS pid
%%   node           -> node()
%%   crash          -> the VM halts with status 1 at once, no answer
%%   ignore_term    -> SIGTERM is ignored from now on; answers ok
%%   print <text>   -> <text> on stdout and on stderr; answers ok
%% Build-time variants come from the application environment:
%%   crash_at_boot (boolean)  halt(1) before listening
%%   exit_after_ms (integer)  halt(1) that long after boot; 0 = never
-module(fixture_server).
-export([start_link/1, init/2, accept/2, serve/2]).

start_link(App) ->
    proc_lib:start_link(?MODULE, init, [self(), App]).

init(Parent, App) ->
    {ok, Vsn} = application:get_key(App, vsn),
    case application:get_env(App, crash_at_boot, false) of
        true ->
            io:format(standard_error, "~s ~s crashing at boot~n", [App, Vsn]),
            erlang:halt(1);
        false ->
            ok
    end,
    Port = list_to_integer(os:getenv("PORT", "0")),
    {ok, Listen} = gen_tcp:listen(Port, [binary, {packet, line}, {active, false},
                                         {reuseaddr, true}, {ip, loopback}]),
    case application:get_env(App, exit_after_ms, 0) of
        0 -> ok;
        Ms -> spawn(fun() -> exit_after(App, Ms) end)
    end,
    io:format(user, "~s ~s booted on port ~b~n", [App, Vsn, Port]),
    proc_lib:init_ack(Parent, {ok, self()}),
    accept(App, Listen).

exit_after(App, Ms) ->
    timer:sleep(Ms),
    io:format(standard_error, "~s exiting after ~b ms as built~n", [App, Ms]),
    erlang:halt(1).

%% Fully qualified calls so a hot upgrade moves the loops onto new code; the
%% accept timeout makes the idle loop move within a second.
accept(App, Listen) ->
    case gen_tcp:accept(Listen, 1000) of
        {ok, Sock} ->
            Pid = spawn(fun() -> receive go -> ?MODULE:serve(App, Sock) end end),
            ok = gen_tcp:controlling_process(Sock, Pid),
            Pid ! go;
        {error, timeout} ->
            ok
    end,
    ?MODULE:accept(App, Listen).

serve(App, Sock) ->
    case gen_tcp:recv(Sock, 0) of
        {ok, Line} ->
            gen_tcp:send(Sock, [reply(App, string:trim(Line, trailing, "\r\n")), $\n]),
            ?MODULE:serve(App, Sock);
        {error, _} ->
            ok
    end.

reply(App, <<"version">>) ->
    {ok, Vsn} = application:get_key(App, vsn),
    Vsn;
reply(_App, <<"code_version">>) ->
    ?FIXTURE_VSN;
reply(_App, <<"os_pid">>) ->
    os:getpid();
reply(_App, <<"node">>) ->
    atom_to_list(node());
reply(_App, <<"crash">>) ->
    erlang:halt(1);
reply(_App, <<"ignore_term">>) ->
    ok = os:set_signal(sigterm, ignore),
    "ok";
reply(_App, <<"print ", Text/binary>>) ->
    io:format(user, "~s~n", [Text]),
    io:format(standard_error, "~s~n", [Text]),
    "ok";
reply(_App, Other) ->
    ["error unknown command: ", Other].

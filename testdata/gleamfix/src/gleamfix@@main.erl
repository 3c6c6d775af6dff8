%% The shape of the module `gleam export erlang-shipment` generates: start the
%% package's OTP application, run main/0, halt when it returns.
-module('gleamfix@@main').
-export([run/1]).

run(Module) ->
    io:setopts(user, [binary, {encoding, utf8}]),
    io:setopts(standard_error, [{encoding, utf8}]),
    try
        {ok, _} = application:ensure_all_started(Module),
        erlang:process_flag(trap_exit, false),
        Module:main(),
        erlang:halt(0)
    catch
        Class:Reason:Stack ->
            io:format(standard_error, "~p:~p~n~p~n", [Class, Reason, Stack]),
            erlang:halt(127)
    end.

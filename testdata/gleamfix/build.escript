#!/usr/bin/env escript
%% Assembles gleamfix the way `gleam export erlang-shipment` lays a Gleam app
%% out (the Gleam compiler is not available here): one directory per package
%% with ebin/*.beam and a .app, plus entrypoint.sh; then packs it as
%% ARGV[1] (.tar.gz, files at the root). Version and variant come from the
%% FIXTURE_* variables.
%%   escript build.escript OUT.tar.gz
-mode(compile).

main([OutTar]) ->
    Ship = "build/erlang-shipment",
    Vsn = os:getenv("FIXTURE_VSN", "0.1.0"),
    Env = [{crash_at_boot, os:getenv("FIXTURE_CRASH_AT_BOOT", "false") =:= "true"},
           {exit_after_ms, list_to_integer(os:getenv("FIXTURE_EXIT_AFTER_MS", "0"))}],
    Opts = [{d, 'FIXTURE_VSN', Vsn}],
    package(Ship, gleamfix, "src", Vsn, [fixture_server], Env, Opts),
    package(Ship, fixture_server, "../shared", "1.0.0", [], [], Opts),
    {ok, _} = file:copy("entrypoint.sh", filename:join(Ship, "entrypoint.sh")),
    ok = file:change_mode(filename:join(Ship, "entrypoint.sh"), 8#755),
    Files = [{F, filename:join(Ship, F)} || F <- filelib:wildcard("*", Ship)],
    ok = erl_tar:create(OutTar, Files, [compressed]);
main(_) ->
    io:format(standard_error, "usage: escript build.escript OUT.tar.gz~n", []),
    halt(2).

package(Ship, App, SrcDir, Vsn, Deps, Env, Opts) ->
    Ebin = filename:join([Ship, App, "ebin"]),
    ok = filelib:ensure_dir(filename:join(Ebin, "x")),
    Mods = [begin
                {ok, Mod} = compile:file(Src, [{outdir, Ebin}, debug_info, report | Opts]),
                Mod
            end || Src <- filelib:wildcard(filename:join(SrcDir, "*.erl"))],
    AppSpec = {application, App,
               [{vsn, Vsn}, {description, atom_to_list(App)}, {modules, Mods}, {registered, []},
                {applications, [kernel, stdlib | Deps]}, {env, Env}]},
    ok = file:write_file(filename:join(Ebin, atom_to_list(App) ++ ".app"),
                         io_lib:format("~p.~n", [AppSpec])).

"""gliderlabs' command lines: Go flag forms, -version, the -tags template, the socket it mounts, the exit codes
-deregister on-success counts as success, and the image's entrypoint choosing what to run."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from portside.entrypoint import command, docker_socket
from registrator.cli import _boolean_flags, cli, docker_host, go_flags
from registrator.daemon import success_like
from registrator.tagtemplate import render_tags


def test_go_flag_forms() -> None:
    flags = _boolean_flags()
    assert {"internal", "cleanup", "explicit"} <= flags.keys()
    args = ["-internal=true", "-cleanup=false", "--explicit=1", "-ip=198.18.0.1", "-ttl", "30", "consul://h:1",
            "-internal=true"]
    assert go_flags(args, flags) == ["--internal", "--explicit", "-ip", "198.18.0.1", "-ttl", "30", "consul://h:1",
                                     "-internal=true"]  # after the URI: an argument, as Go's flag package
    assert go_flags(["-adopt-gliderlabs=false"], flags) == ["--no-adopt-gliderlabs"]
    with pytest.raises(click.BadParameter):
        go_flags(["-internal=maybe"], flags)


def test_version_and_a_tags_template_that_does_not_parse() -> None:
    assert CliRunner().invoke(cli, ["-version"]).output.startswith("registrator, version ")
    result = CliRunner().invoke(cli, ["-tags", "{{.Config.Hostname", "consul://127.0.0.1:1"])
    assert result.exit_code == 2 and "-tags" in result.output


def test_tags_template_over_the_inspect_data() -> None:
    container = {"Id": "abcdef0123456789", "Config": {"Hostname": "h1", "Labels": {"team": "x"},
                                                      "Env": ["A=1", "SERVICE_80_NAME=foo"]}}
    assert render_tags("{{.Config.Hostname}},static", container) == "h1,static"
    assert render_tags('{{strSlice .ID 0 6}},{{mIndex "team" .Config.Labels}},{{toUpper "a"}}', container) \
        == "abcdef,x,A"
    assert render_tags('{{matchFirstElement "^SERVICE_" .Config.Env}},{{sIndex -1 .Config.Env}}', container) \
        == "SERVICE_80_NAME=foo,SERVICE_80_NAME=foo"
    assert render_tags("plain,tags", container) == "plain,tags"


def test_docker_socket_where_gliderlabs_mounts_it(tmp_path, monkeypatch) -> None:
    assert docker_host("tcp://198.18.0.1:2375") == "tcp://198.18.0.1:2375"
    monkeypatch.setattr("registrator.cli.GLIDERLABS_SOCKET", str(tmp_path / "docker.sock"))
    assert docker_host(None) is None
    (tmp_path / "docker.sock").touch()
    assert docker_host(None) == f"unix://{tmp_path / 'docker.sock'}"


@pytest.mark.parametrize(("code", "success"), [("0", True), ("", True), ("143", True), ("137", True),
                                               ("130", True), ("1", False), ("3", False), ("127", False),
                                               ("x", False)])
def test_on_success_counts_signalled_exits_as_gliderlabs(code: str, success: bool) -> None:
    assert success_like(code) is success


def test_entrypoint_runs_registrator_unless_given_a_command(tmp_path) -> None:
    assert command(["consul://localhost:8500"]) == ["registrator", "consul://localhost:8500"]
    assert command(["-internal", "consul://x"]) == ["registrator", "-internal", "consul://x"]
    assert command([]) == ["registrator"]
    assert command(["sh", "-c", "true"]) == ["sh", "-c", "true"]
    sock = tmp_path / "d.sock"
    sock.touch()
    assert docker_socket({"DOCKER_HOST": f"unix://{sock}"}) == str(sock)
    assert docker_socket({"DOCKER_HOST": "tcp://198.18.0.1:2375"}) is None

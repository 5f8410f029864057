"""consul-template's HCL configuration read unchanged: realistic files, HCL v1 values (octal perms, heredocs,
repeated blocks), directories merged in lexical order, and one error naming every unsupported key."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from consul_templates import hcl_tree
from consul_templates.config import ConfigError, EnvFilter, Wait, load_config
from consul_templates.hcl_config import load_paths

NGINX_RELOAD = """\
# nginx upstreams, reloaded on change (the classic consul-template set-up)
consul {
  address = "127.0.0.1:8500"
  token   = "00000000-0000-0000-0000-000000000001"

  retry {
    enabled  = true
    attempts = 12
    backoff  = "250ms"
  }
}

log_level = "warn"
max_stale = "10m"
wait {
  min = "2s"
  max = "10s"
}

template {
  source          = "/etc/consul-template/upstreams.ctmpl"
  destination     = "/etc/nginx/conf.d/upstreams.conf"
  command         = "nginx -t && nginx -s reload"
  command_timeout = "60s"
  perms           = 0644
  backup          = true
}
"""

MULTIPLE = """\
template {
  source      = "haproxy.ctmpl"
  destination = "/etc/haproxy/haproxy.cfg"
  command     = ["systemctl", "reload", "haproxy"]
  perms       = 0600
}

template {
  contents    = <<EOF
{{ range service "redis" }}{{ .Address }}:{{ .Port }}
{{ end }}
EOF
  destination = "/etc/app/redis.txt"
  wait        = "1s:5s"
}

template {
  source           = "app.json.tmpl"
  destination      = "out/app.json"
  left_delimiter   = "[["
  right_delimiter  = "]]"
  create_dest_dirs = false
  error_on_missing_key = true
  exec {
    command = "kill -HUP $(cat /run/app.pid)"
    timeout = "5s"
  }
}
"""

EXEC_MODE = """\
consul {
  address = "consul.service.consul:8500"
  ssl {
    enabled = true
    verify  = false
    ca_cert = "/etc/ssl/ca.pem"
  }
}
reload_signal = "SIGHUP"
kill_signal   = "SIGINT"
pid_file      = "/run/consul-template.pid"

template {
  source      = "/srv/app.conf.ctmpl"
  destination = "/srv/app.conf"
}

exec {
  command       = ["/usr/bin/app", "-config", "/srv/app.conf"]
  reload_signal = "SIGUSR1"
  kill_signal   = "SIGTERM"
  kill_timeout  = "5s"
  splay         = "2s"
  env {
    pristine  = false
    custom    = ["APP_ENV=prod"]
    allowlist = ["PATH", "HOME", "APP_*"]
    denylist  = ["APP_SECRET"]
  }
}
"""

VAULTLESS_DEFAULTS = """\
template {
  source = "/srv/motd.ctmpl"
  destination = "/etc/motd"
}
"""


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_nginx_reload_config(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "nginx.hcl", NGINX_RELOAD))
    assert cfg.consul.address == "127.0.0.1:8500" and cfg.consul.token.endswith("1")  # type: ignore[union-attr]
    assert cfg.consul.stale is True and cfg.log_level == "warning" and cfg.wait == Wait(2, 10)
    (spec,) = cfg.templates
    assert spec.perms == 0o644  # HCL1: a leading 0 is octal
    assert spec.backup and spec.command == "nginx -t && nginx -s reload" and spec.command_timeout == 60
    assert spec.language == "go" and spec.syntax == "nginx"


def test_multiple_templates_keep_their_own_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths are taken from the working directory, as consul-template does
    cfg = load_config(write(tmp_path / "etc", "multi.hcl", MULTIPLE))
    haproxy, redis, app = cfg.templates
    assert haproxy.perms == 0o600 and haproxy.command == "systemctl reload haproxy" and haproxy.syntax == "haproxy"
    assert haproxy.source == tmp_path / "haproxy.ctmpl"  # relative to the file
    assert redis.contents == '{{ range service "redis" }}{{ .Address }}:{{ .Port }}\n{{ end }}\n'
    assert redis.wait == Wait(1, 5) and redis.perms is None and redis.backup is False
    assert app.left_delimiter == "[[" and app.right_delimiter == "]]" and not app.create_dest_dirs
    assert app.error_on_missing_key and app.syntax == "json"
    assert app.command == "kill -HUP $(cat /run/app.pid)" and app.command_timeout == 5
    assert app.destination == tmp_path / "out" / "app.json"


def test_exec_mode_config(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "exec.hcl", EXEC_MODE))
    assert cfg.consul.ssl is True and cfg.consul.verify is False and cfg.consul.ca_cert == "/etc/ssl/ca.pem"
    assert cfg.reload_signal == signal.SIGHUP and cfg.kill_signal == signal.SIGINT
    assert cfg.pid_file == Path("/run/consul-template.pid")
    assert cfg.exec is not None
    assert cfg.exec.command == ("/usr/bin/app", "-config", "/srv/app.conf")
    assert (cfg.exec.reload_signal, cfg.exec.kill_signal) == (signal.SIGUSR1, signal.SIGTERM)
    assert cfg.exec.kill_timeout == 5 and cfg.exec.splay == 2
    assert cfg.exec.env == EnvFilter(custom=("APP_ENV=prod",), allow=("PATH", "HOME", "APP_*"), deny=("APP_SECRET",))


def test_exec_string_command_is_split_without_a_shell(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "e.hcl", VAULTLESS_DEFAULTS + 'exec {\n  command = "app -c \'a b\'"\n}\n'))
    assert cfg.exec is not None and cfg.exec.command == ("app", "-c", "a b")
    assert cfg.exec.reload_signal is None and cfg.exec.kill_signal == signal.SIGINT and cfg.exec.kill_timeout == 30


def test_defaults_of_a_minimal_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "m.hcl", VAULTLESS_DEFAULTS))
    (spec,) = cfg.templates
    assert spec.create_dest_dirs and spec.perms is None and spec.command is None and spec.wait is None
    assert cfg.reload_signal == signal.SIGHUP and cfg.exec is None and cfg.env is None


def test_directory_merged_in_lexical_order(tmp_path: Path) -> None:
    conf = tmp_path / "conf.d"
    write(conf, "10-consul.hcl", 'consul {\n  address = "first:8500"\n}\nlog_level = "info"\n')
    write(conf, "20-override.hcl", 'consul {\n  address = "second:8500"\n}\n')
    write(conf, "30-templates.hcl", VAULTLESS_DEFAULTS)
    write(conf, "sub/40-more.json", json.dumps({"template": [{"source": "x.ctmpl", "destination": "/tmp/x"}]}))
    (conf / "99-link.hcl").symlink_to(tmp_path / "elsewhere.hcl")  # symlinks are not followed
    cfg = load_config(conf)
    assert cfg.consul.address == "second:8500" and cfg.log_level == "info"
    assert [str(s.destination) for s in cfg.templates] == ["/etc/motd", "/tmp/x"]


def test_several_config_flags_merge_left_to_right(tmp_path: Path) -> None:
    a = write(tmp_path, "a.hcl", 'log_level = "debug"\n' + VAULTLESS_DEFAULTS)
    b = write(tmp_path, "b.hcl", 'log_level = "err"\ntemplate {\n  contents = "x"\n  destination = "/tmp/y"\n}\n')
    cfg = load_paths([a, b])
    assert cfg.log_level == "error" and len(cfg.templates) == 2


def test_one_error_names_every_unsupported_and_unknown_key(tmp_path: Path) -> None:
    text = ('vault {\n  address = "https://vault:8200"\n}\n'
            'consul {\n  auth {\n    enabled = true\n  }\n}\n'
            'template {\n  source = "a.ctmpl"\n  destination = "/tmp/a"\n  sandbox_path = "/srv"\n  prems = 0644\n}\n'
            'deduplicate {\n  enabled = true\n}\n')
    path = write(tmp_path, "bad.hcl", text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    for expected in (f"{path}:1: vault: consul-template setting not supported",
                     f"{path}:5: consul.auth: consul-template setting not supported",
                     f"{path}:12: template.sandbox_path: consul-template setting not supported",
                     f"{path}:13: template.prems: unknown key",
                     f"{path}:15: deduplicate: consul-template setting not supported"):
        assert expected in msg


def test_unsupported_keys_at_their_empty_default_are_accepted(tmp_path: Path) -> None:
    text = ('template {\n  source = "a.ctmpl"\n  destination = "/tmp/a"\n  function_denylist = []\n'
            '  sandbox_path = ""\n}\n')
    assert len(load_config(write(tmp_path, "ok.hcl", text)).templates) == 1


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.hcl", 'template {\n  source = "a"\n  destination = = "b"\n}\n')
    with pytest.raises(ConfigError, match=rf"{path}: line 3, column \d+: invalid HCL"):
        load_config(path)


@pytest.mark.parametrize(("text", "value"), [
    ("x = 0600", 0o600), ("x = 0", 0), ("x = 644", 644), ("x = 0755", 0o755), ("x = -3", -3), ("x = 1.5", 1.5),
    ('x = "0600"', "0600"), ('x = "a\\"b\\\\c\\n\\u00e9"', 'a"b\\c\n\u00e9'),
    ('x = "${HOME} {{ .X }}"', "${HOME} {{ .X }}"),
    ("x = <<EOF\nline\nEOF\n", "line\n"), ("x = <<-EOT\n    a\n      b\n    EOT\n", "a\n  b\n"),
    ("x = true", True), ('x = ["a", 1]', ["a", 1]),
])
def test_hcl1_values(text: str, value: object) -> None:
    assert hcl_tree.parse(text + "\n")["x"] == value


def test_repeated_blocks_stay_separate_and_keys_keep_lines() -> None:
    doc = hcl_tree.parse('template {\n  a = 1\n}\ntemplate {\n  b = 2\n  wait {\n    min = "1s"\n  }\n}\n')
    assert doc["template"] == [{"a": 1}, {"b": 2, "wait": [{"min": "1s"}]}]
    assert doc["template"][1].key_lines == {"b": 5, "wait": 6}

"""Drop-in: one consul-template configuration directory (HCL, `.ctmpl` templates, octal perms, a heredoc, custom
delimiters, a command), unchanged, run by the real consul-template v0.41.1 and then by consul-templates, both
-once against the same agent: the same files, byte for byte, with the same modes, and the same command run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ct_differential as D

pytestmark = pytest.mark.engines

UPSTREAM = """\
upstream {{ env "APP" }} {
{{- range service "SVC" }}
  server {{ .Address }}:{{ .Port }};
{{- else }}
  server 127.0.0.1:1 down;
{{- end }}
}
"""
SETTINGS = """\
{{ with $v := keyOrDefault "ROOT/mode" "standby" }}mode={{ $v }}{{ end }}
{{ range ls "ROOT/limits" }}{{ .Key }}={{ .Value }}
{{ end }}"""

CONFIG = """\
consul {
  address = "ADDR"
  retry {
    attempts = 3
  }
}
log_level = "warn"
wait {
  min = "10ms"
  max = "50ms"
}
template {
  source      = "upstream.ctmpl"
  destination = "out/conf.d/upstream.conf"
  perms       = 0640
  command     = "echo reloaded >> out/commands.log"
}
template {
  source      = "settings.ctmpl"
  destination = "out/settings.txt"
  perms       = 0600
}
template {
  contents    = <<EOF
[[ range services ]][[ if eq .Name "SVC" ]]tags=[[ join "," .Tags ]][[ end ]][[ end ]]
EOF
  destination     = "out/tags.txt"
  left_delimiter  = "[["
  right_delimiter = "]]"
}
"""


@pytest.mark.skipif(not shutil.which("go") and not (Path.home() / ".cache/portside/consul-template-0.41.1").exists(),
                    reason="the pinned consul-template cannot be built here")
def test_the_same_config_directory_gives_the_same_files(service, consul_agent, tmp_path):
    service.register(port=8081, address="127.0.0.11", check=False)
    service.register(port=8082, address="127.0.0.12", check=False)
    service.agent.api("/v1/agent/service/register", "PUT", {"ID": service.sid(8083), "Name": service.name,
                                                            "Address": "127.0.0.13", "Port": 8083,
                                                            "Tags": ["blue", "v2"]})
    service.ids.add(service.sid(8083))
    for key, value in {"mode": "active", "limits/conns": "512", "limits/rate": "10r/s"}.items():
        service.kv(key, value)
    site = tmp_path / "site"
    site.mkdir()
    (site / "upstream.ctmpl").write_text(UPSTREAM.replace("SVC", service.name))
    (site / "settings.ctmpl").write_text(SETTINGS.replace("ROOT", service.kv_root))
    token = consul_agent.env_for("consul-templates").get("CONSUL_HTTP_TOKEN", "")
    config = CONFIG.replace("ADDR", consul_agent.http_addr).replace("SVC", service.name)
    if token:
        config = config.replace('  retry {', f'  token = "{token}"\n  retry {{')
    (site / "ct.hcl").write_text(config)
    env = {**D.environment(), "APP": "shop"}

    theirs = run(site, [D.consul_template_binary(), "-config", "ct.hcl", "-once"], env)
    ours = run(site, [sys.executable, "-m", "consul_templates", "-config", "ct.hcl", "-once"], env)
    assert sorted(theirs) == sorted(ours) == ["commands.log", "conf.d/upstream.conf", "settings.txt", "tags.txt"]
    for name, (data, mode) in theirs.items():
        assert ours[name] == (data, mode), f"{name}: consul-template {data!r} {mode:o}, ours {ours[name]}"
    assert b"server 127.0.0.13:8083;" in theirs["conf.d/upstream.conf"][0]
    assert theirs["settings.txt"][0] == b"mode=active\nconns=512\nrate=10r/s\n"


def run(site: Path, argv: list[str], env: dict[str, str]) -> dict[str, tuple[bytes, int]]:
    """Run one tool in the site directory (relative paths as a user would have them); its files and modes."""
    out = site / "out"
    shutil.rmtree(out, ignore_errors=True)
    done = subprocess.run(argv, cwd=site, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{argv[0]}: {done.stdout}{done.stderr}"
    return {str(p.relative_to(out)): (p.read_bytes(), os.stat(p).st_mode & 0o7777)
            for p in sorted(out.rglob("*")) if p.is_file()}

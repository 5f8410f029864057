"""`python -m consul_templates.nginx_check CANDIDATE`: run `nginx -t` on a rendered snippet before it goes live.

A conf.d snippet (an `upstream` block, a `server` block) is not a whole nginx config, and the live config
cannot be tested with the candidate in place without putting it there. This wraps the candidate in a minimal
main config of its own (`events {}` + `http { include CANDIDATE; }`, or `stream { ... }`) in a temp prefix and
runs `nginx -t` on that: syntax, unknown directives, an empty upstream, a value that broke out of its block
all fail here, while the live file and the running nginx are untouched. Use it as `check_command`:

    check_command: python -m consul_templates.nginx_check {path}
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

WRAPPER = """\
pid {tmp}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 16; }}
{context} {{
{temp_paths}    include {candidate};
}}
"""
# access_log off: the compiled-in default (/var/log/nginx/access.log) is not writable for a non-root user
TEMP_PATHS = "    access_log off;\n" + "".join(
    f"    {k}_temp_path {{tmp}}/{k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))


def check(candidate: Path, *, context: str = "http", nginx: str = "nginx", extra: str = "") -> tuple[int, str]:
    """Return (exit code, nginx's output) of `nginx -t` on the candidate wrapped in `context`."""
    with tempfile.TemporaryDirectory(prefix="ct-check-") as tmp:
        temp_paths = TEMP_PATHS.format(tmp=tmp) if context == "http" else ""
        (Path(tmp) / "logs").mkdir()
        conf = Path(tmp) / "nginx.conf"
        body = WRAPPER.format(tmp=tmp, context=context, temp_paths=temp_paths + extra,
                              candidate=_quote(str(candidate.absolute())))
        conf.write_text(body)
        cmd = [*shlex.split(nginx), "-t", "-q", "-p", tmp, "-e", "stderr", "-c", str(conf)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return 2, f"cannot run {cmd[0]}: {exc}"
        return done.returncode, (done.stdout + done.stderr).strip()


def _quote(path: str) -> str:
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consul_templates.nginx_check", description=__doc__.split("\n")[0])
    parser.add_argument("candidate", type=Path)
    parser.add_argument("--context", choices=("http", "stream"), default="http",
                        help="the block the snippet is included in (default http)")
    parser.add_argument("--nginx", default="nginx", help="nginx binary (default: nginx from PATH)")
    parser.add_argument("--extra", default="", help="directives added before the include (e.g. a map it uses)")
    args = parser.parse_args(argv)
    code, output = check(args.candidate, context=args.context, nginx=args.nginx, extra=args.extra)
    if output:
        print(output, file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())

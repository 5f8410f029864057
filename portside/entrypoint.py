"""The image's ENTRYPOINT: gliderlabs' run line works unchanged, and the daemons run unprivileged.

- `docker run <image> consul://localhost:8500` (or `-internal ...`): the arguments are registrator's, as with
  gliderlabs' image, whose ENTRYPOINT is its registrator; `docker run <image> dns-balancer ...` (a command on
  PATH) runs that command.
- The container starts as root only to reach the Docker socket: a socket mounted from the host is root-owned
  (mode 0660, group root or docker), which the image's user cannot open without `--group-add` or `-u root`,
  flags gliderlabs' line does not have. Started as root, this drops to the image's user (uid/gid 10001) before
  anything else runs, keeping as an extra group only the socket's group, and only for registrator. Whoever can
  use that socket can start a privileged container, so the group is root-equivalent on the host: the daemon
  stays unprivileged inside its container, but the mount itself is the trust decision (as with gliderlabs, which
  runs as root). Started with `-u` as any other user, nothing is changed."""

from __future__ import annotations

import os
import shutil
import sys

UID = GID = 10001  # the image's `portside` user (Dockerfile)
SOCKETS = ("/tmp/docker.sock", "/var/run/docker.sock")  # gliderlabs' mount point first, then Docker's


def command(args: list[str]) -> list[str]:
    """The command to run: the arguments themselves when they start with a program, else registrator's."""
    if args and not args[0].startswith("-") and "://" not in args[0] and shutil.which(args[0]):
        return args
    return ["registrator", *args]


def docker_socket(env: dict[str, str]) -> str | None:
    host = env.get("DOCKER_HOST", "")
    candidates = (host[len("unix://"):],) if host.startswith("unix://") else () if host else SOCKETS
    return next((p for p in candidates if os.path.exists(p)), None)


def main() -> None:
    cmd = command(sys.argv[1:])
    if os.geteuid() == 0:
        sock = docker_socket(dict(os.environ)) if os.path.basename(cmd[0]) == "registrator" else None
        try:
            os.setgroups([os.stat(sock).st_gid] if sock else [])
            os.setgid(GID)
            os.setuid(UID)
            os.environ["HOME"] = "/nonexistent"
        except PermissionError:
            # root without CAP_SETUID/CAP_SETGID (`--cap-drop ALL`): it cannot change users, and holds no
            # capability either, so the command runs as it was started rather than not at all
            print("portside-entrypoint: started as root without the capabilities to drop to uid 10001; running "
                  "as root without capabilities (pass -u 10001 to run unprivileged)", file=sys.stderr)
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main()

"""The installed rkt-run, run by real unprivileged users: the seed's example, the options, aliases, helpers."""

from __future__ import annotations

import os
import stat

from runnerfixtures import RKT, ROOT, Installed
from seedpolicy import SEED

BASE = """rkt = "@RKT@"
default-interactive-cmd = "sh"
preserve-cwd = true

[environment]
GREETING = "hello {{.Username}}"
FROM_HOST = "{{.PROJECT}}"

[options.common]
general = ["--insecure-options=image", "--dir=@DIR@"]
run = ["--net=host"]
[options.interactive]
run = ["--set-env=MODE=interactive"]
[options.batch]
run = ["--set-env=MODE=batch"]

[volume.home]
volume = "kind=host,source={{.HomeDir}}"
mount = "target={{.HomeDir}}"

[volume.work]
volume = "kind=host,source=@WORK@,readOnly=true"
mount = "target=/work"
on-request = true

[alias.bb]
image = "example.com/busybox"

[alias.shell]
image = "example.com/busybox"
exec = ["/bin/sh", "/bin/id"]
"""


def base(inst: Installed, extra: str = "") -> str:
    return inst.policy(BASE.replace("@WORK@", inst.work) + extra)


def expected_seed_line(u: object) -> str:
    uid, gid, name, home = u.pw_uid, u.pw_gid, u.pw_name, u.pw_dir  # type: ignore[attr-defined]
    return (f"/usr/bin/rkt --insecure-options=image run --interactive --net=host --set-env=HOME=/home/{name} "
            f"--volume home,kind=host,source={home} --volume volume-config,kind=empty,uid={uid},gid={gid} "
            f"--volume volume-data,kind=empty,uid={uid},gid={gid} quay.io/biocontainers/qiime:1.9.1--py27_0 "
            f"--mount volume=home,target=/home/{name} --user={uid} --group={gid} --exec sh")


def test_seed_config_and_command_dry_run(installed: Installed, tmp_path: object) -> None:
    u = installed.users[0]
    cfg = os.path.join(installed.work, "seed.toml")
    with open(cfg, "w") as f:
        f.write(SEED)
    os.chmod(cfg, 0o644)
    r = installed.run(u, "--config", cfg, "--dry-run", "-i", "-v", "qiime_")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == expected_seed_line(u)


def test_seed_config_runs_with_this_machines_rkt(installed: Installed) -> None:
    """The seed's config, with only `rkt`, the store and the (offline) image swapped, and its command `-i -v qiime_`."""
    u = installed.users[0]
    installed.policy(SEED.replace("/usr/bin/rkt", "@RKT@")
                     .replace('general = ["--insecure-options=image"]', 'general = ["--insecure-options=image", "--dir=@DIR@"]')
                     .replace("quay.io/biocontainers/qiime:1.9.1--py27_0", "example.com/busybox"))
    r = installed.run(u, "-i", "-v", "qiime_", stdin="id; echo home=$HOME; ls -d /home/*\n")
    assert r.returncode == 0, r.stderr
    line = [x for x in r.stderr.splitlines() if x.startswith("# ")][0]
    assert line == "# " + expected_seed_line(u).replace("/usr/bin/rkt", RKT).replace(
        "--insecure-options=image", f"--insecure-options=image --dir={installed.store}").replace(
        "quay.io/biocontainers/qiime:1.9.1--py27_0", "example.com/busybox")
    assert f"uid={u.pw_uid} gid={u.pw_gid}" in r.stdout and "uid=0" not in r.stdout
    assert f"home=/home/{u.pw_name}" in r.stdout and f"/home/{u.pw_name}\n" in r.stdout  # the home volume


def test_batch_run_cwd_env_and_modes(installed: Installed) -> None:
    u = installed.users[0]
    base(installed)
    sub = os.path.join(u.pw_dir, "proj")
    os.makedirs(sub, exist_ok=True)
    os.chown(sub, u.pw_uid, u.pw_gid)
    r = installed.run(u, "-e", "/bin/sh", "bb", "-c", 'pwd; id -u; echo "$GREETING/$MODE/$FROM_HOST/$X"',
                      "--set-env", cwd=sub, env={"PROJECT": "p1"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [sub, str(u.pw_uid), f"hello {u.pw_name}/batch/p1/"]
    # --set-env after the image is an argument; before it, an option
    r = installed.run(u, "--set-env", "X=1", "-e", "/bin/sh", "bb", "-c", 'echo $X', cwd=sub)
    assert r.stdout.strip() == "1", r.stderr
    r = installed.run(u, "-i", "-e", "/bin/sh", "bb", stdin='echo "$MODE"\n')
    assert r.stdout.strip() == "interactive", r.stderr
    # the app's exit status passes through
    r = installed.run(u, "-e", "/bin/sh", "bb", "-c", "exit 7")
    assert r.returncode == 7


def test_print_env_dry_run_verbose_and_listing(installed: Installed) -> None:
    u = installed.users[1]
    base(installed)
    r = installed.run(u, "--print-env", "--dry-run", "--set-env", "A=b", "bb", env={"PROJECT": "p2"})
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[:3] == [f"GREETING=hello {u.pw_name}", "FROM_HOST=p2", "A=b"]
    assert out[3].startswith(f"{RKT} --insecure-options=image --dir={installed.store} run --net=host --set-env=MODE=batch "
                             f"--set-env-file=ENVFILE --volume home,kind=host,source={u.pw_dir} example.com/busybox "
                             f"--mount volume=home,target={u.pw_dir} --stdin=stream --working-dir=")
    r = installed.run(u, "-l")
    assert r.stdout.splitlines() == ["bb = example.com/busybox", "id = -e /bin/id example.com/busybox",
                                     "sh = -e /bin/sh example.com/busybox", "shell = -e /bin/sh example.com/busybox"]


def test_aliases_exec_basenames_and_volumes(installed: Installed) -> None:
    u = installed.users[0]
    base(installed)
    with open(os.path.join(installed.work, "data"), "w") as f:
        f.write("shared data\n")
    os.chmod(os.path.join(installed.work, "data"), 0o644)
    r = installed.run(u, "id", "-u")  # exec basename of alias `shell`
    assert r.returncode == 0 and r.stdout.strip() == str(u.pw_uid), r.stderr
    r = installed.run(u, "shell", "-c", "echo from-shell")
    assert r.stdout.strip() == "from-shell", r.stderr
    r = installed.run(u, "bb")  # the image's own exec
    assert r.stdout.strip() == "hello from busybox", r.stderr
    r = installed.run(u, "-e", "/bin/id", "shell")
    assert r.returncode == 2 and "fixes the command" in r.stderr
    r = installed.run(u, "--volume", "work", "sh", "-c", "cat /work/data; touch /work/x 2>/dev/null || echo ro")
    assert r.stdout.splitlines() == ["shared data", "ro"], r.stderr
    r = installed.run(u, "sh", "-c", "ls /work 2>&1 || echo absent")
    assert "absent" in r.stdout or "No such" in r.stdout


def test_helper_symlinks_and_shebang_script(installed: Installed) -> None:
    u = installed.users[1]
    installed.policy(BASE.replace("@WORK@", installed.work).replace('exec = ["/bin/sh", "/bin/id"]', 'exec = ["/bin/id"]')
                     + '\n[alias.rrsh]\nimage = "example.com/busybox"\nexec = ["/bin/sh"]\n')
    bindir = os.path.join(u.pw_dir, "bin")
    os.makedirs(bindir, exist_ok=True)
    link = os.path.join(bindir, "rrsh")
    if not os.path.lexists(link):
        os.symlink(os.path.join(installed.bin, "rkt-run-helper"), link)
    script = os.path.join(u.pw_dir, "hello.sh")
    with open(script, "w") as f:
        f.write("#!/usr/bin/env rrsh\nread line\necho \"got $line in $(pwd) as $(id -u)\"\nexit 5\n")
    os.chmod(script, 0o755)
    for p in (bindir, script):
        os.chown(p, u.pw_uid, u.pw_gid)
    r = installed.run(u, cmd=script, env={"PATH": f"{bindir}:/usr/bin:/bin"}, stdin="a line\n")
    assert r.returncode == 5, r.stderr
    assert r.stdout.strip() == f"got a line in {u.pw_dir} as {u.pw_uid}"
    r = installed.run(u, "-c", "echo direct", cmd=link)
    assert r.stdout.strip() == "direct", r.stderr
    r = installed.run(u, cmd="rkt-run-helper")
    assert r.returncode == 2 and "symlink" in r.stderr


def test_install_is_root_owned_and_idempotent(installed: Installed) -> None:
    import subprocess

    env = dict(os.environ, PREFIX=installed.prefix, CONFIG=installed.config, STATE=installed.state)
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "install-rktrun.sh")], env=env, check=True)  # a second time
    st = os.stat(os.path.join(installed.bin, "rkt-run"))
    assert st.st_uid == 0 and st.st_mode & stat.S_ISUID
    lib = os.path.join(installed.prefix, "lib", "pyrkt-rktrun")
    for dirpath, dirs, files in os.walk(lib):
        for n in dirs + files:
            s = os.lstat(os.path.join(dirpath, n))
            assert s.st_uid == 0 and not s.st_mode & 0o022
    assert not os.path.islink(os.path.join(lib, "pyrkt"))  # a copy, not the checkout
    assert oct(os.stat(installed.state).st_mode & 0o777) == "0o700"
    base(installed)
    r = installed.run(installed.users[0], "-e", "/bin/id", "bb")
    assert r.returncode == 0 and f"uid={installed.users[0].pw_uid}" in r.stdout, r.stderr

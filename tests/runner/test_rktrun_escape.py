"""Escape attempts against the installed rkt-run, each asserting the policy held.

Every attempt runs as a real unprivileged user through the setuid launcher.
"Held" means: no uid 0 in the container, no mount the policy lacks, no file
written and no code run as root on the host (marker files that hostile code
would create as root are checked for).
"""

from __future__ import annotations

import os
import subprocess

import pytest

from runnerfixtures import RKT, Installed

POLICY = """rkt = "@RKT@"
preserve-cwd = true
[environment]
PROJECT = "{{.PROJECT}}"
[options]
general = ["--insecure-options=image", "--dir=@DIR@"]
run = ["--net=host"]
[volume.proj]
volume = "kind=host,source=/opt/projects/{{.PROJECT}},readOnly=true"
mount = "target=/proj"
on-request = true
[alias.bb]
image = "example.com/busybox"
[alias.idonly]
image = "example.com/busybox"
exec = ["/bin/id"]
"""


@pytest.fixture
def inst(installed: Installed) -> Installed:
    installed.policy(POLICY)
    return installed


def ok_as_user(r: subprocess.CompletedProcess[str], inst: Installed, who: int = 0) -> None:
    u = inst.users[who]
    assert r.returncode == 0, r.stderr
    assert f"uid={u.pw_uid}" in r.stdout and "uid=0" not in r.stdout


def refused(r: subprocess.CompletedProcess[str], text: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert text in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "uid=" not in r.stdout


def test_flags_smuggled_in_arguments_stay_arguments(inst: Installed) -> None:
    u = inst.users[0]
    r = inst.run(u, "-v", "-e", "/bin/sh", "bb", "-c", "id", "--user=0", "--exec=/bin/sh", "--volume", "root,kind=host,source=/")
    ok_as_user(r, inst)
    line = r.stderr.splitlines()[0].split()
    assert line[line.index("--") + 1:] == ["-c", "id", "--user=0", "--exec=/bin/sh", "--volume", "root,kind=host,source=/"]
    # an alias's args: `idonly --user=0` is `id --user=0` (busybox id rejects it), never rkt's --user
    r = inst.run(u, "idonly", "--user=0")
    assert "uid=0" not in r.stdout
    refused(inst.run(u, "-e", "/bin/sh", "bb", "-c", "id", "---", "example.com/busybox", "--user=0", "--exec=/bin/id"),
            "'---' refused")
    refused(inst.run(u, "bb", "---"), "'---' refused")
    # and no mount came from them: the app sees the same mount table either way
    plain = inst.run(u, "-e", "/bin/sh", "bb", "-c", "wc -l < /proc/self/mountinfo; ls /host 2>&1 | head -1")
    smuggled = inst.run(u, "-e", "/bin/sh", "bb", "-c", "wc -l < /proc/self/mountinfo; ls /host 2>&1 | head -1",
                        "--volume", "host,kind=host,source=/", "--mount", "volume=host,target=/host")
    assert plain.returncode == 0 and plain.stdout == smuggled.stdout, (plain, smuggled)


def test_flags_smuggled_in_exec_image_and_volume_names(inst: Installed) -> None:
    u = inst.users[0]
    refused(inst.run(u, "-e", "--user=0", "bb"), "starts with '-'")
    refused(inst.run(u, "--exec=-x", "bb"), "starts with '-'")
    refused(inst.run(u, "--", "--user=0"), "starts with '-'")
    refused(inst.run(u, "--", "-i"), "starts with '-'")
    refused(inst.run(u, "--volume", "--mount=volume=x,target=/", "bb"), "starts with '-'")
    refused(inst.run(u, "--volume", "root", "bb"), "no volume 'root'")
    refused(inst.run(u, "--user=0", "bb"), "unknown option")


def test_config_from_a_user(inst: Installed) -> None:
    u = inst.users[0]
    evil = os.path.join(u.pw_dir, "evil.toml")
    with open(evil, "w") as f:
        f.write(f'rkt = "/bin/sh"\n[options]\ngeneral = ["-c", "touch /root/pwned-rktrun"]\n')
    os.chown(evil, u.pw_uid, u.pw_gid)
    refused(inst.run(u, "--config", evil, "bb"), "--config is for root only")
    assert not os.path.exists("/root/pwned-rktrun")
    # with --dry-run it is read with the user's rights: a root-only file stays unreadable
    r = inst.run(u, "--config", "/etc/shadow", "--dry-run", "bb")
    assert r.returncode == 2 and "Permission denied" in r.stderr and "root:" not in r.stderr + r.stdout
    refused(inst.run(u, "--config", "/dev/zero", "--dry-run", "bb"), "not a policy file")
    r = inst.run(u, "-h")
    assert r.returncode == 0 and r.stdout.startswith("Usage: rkt-run [options] IMAGE|ALIAS")
    refused(inst.run(u, "--prepare", "bb"), "--prepare needs worker-pods")


def test_raw_images_local_files_and_restrict_images(inst: Installed) -> None:
    u = inst.users[0]
    secret = "/root/rktrun-secret.aci"
    with open(secret, "w") as f:
        f.write("not for users")
    os.chmod(secret, 0o600)
    try:
        for ref in (secret, "file://" + secret, "oci:/root", "./x.aci", "docker-archive:/root/x.tar"):
            refused(inst.run(u, ref), "names a local file")
    finally:
        os.unlink(secret)
    # a raw image by name is fine without restrict-images...
    r = inst.run(u, "-e", "/bin/id", "example.com/busybox")
    ok_as_user(r, inst)
    # ...and refused with it
    inst.policy(POLICY.replace('preserve-cwd = true', 'preserve-cwd = true\nrestrict-images = true'))
    refused(inst.run(u, "-e", "/bin/id", "example.com/busybox"), "restrict-images")
    ok_as_user(inst.run(u, "idonly"), inst)


def test_unlisted_and_injected_volumes(inst: Installed) -> None:
    u = inst.users[0]
    os.makedirs("/opt/projects/p1", exist_ok=True)
    try:
        with open("/opt/projects/p1/f", "w") as f:
            f.write("project file\n")
        r = inst.run(u, "--volume", "proj", "-e", "/bin/sh", "bb", "-c", "cat /proj/f; id", env={"PROJECT": "p1"})
        ok_as_user(r, inst)
        assert "project file" in r.stdout
        # a comma or '=' from the environment would add volume parameters (source=/ ...): refused
        for value in ("p1,source=/", "x=y", "p1\nkind=host"):
            r = inst.run(u, "--volume", "proj", "-e", "/bin/id", "bb", env={"PROJECT": value})
            assert r.returncode == 2 and "PROJECT" in r.stderr and "uid=" not in r.stdout, r.stderr
        # without the volume requested, the env value only reaches the env file, where a newline is refused
        r = inst.run(u, "-e", "/bin/sh", "bb", "-c", "echo $PROJECT; echo ${ROOTED:-none}", env={"PROJECT": "a\nROOTED=1"})
        assert r.returncode == 2 and "newline" in r.stderr
        # '}}' and template text in a value stay literal: substituted values are not re-parsed
        r = inst.run(u, "-e", "/bin/sh", "bb", "-c", "echo \"$PROJECT\"", env={"PROJECT": "}}{{.Uid}}{{.HOME}}"})
        assert r.returncode == 0 and r.stdout.strip() == "}}{{.Uid}}{{.HOME}}", r.stderr
    finally:
        subprocess.run(["rm", "-rf", "/opt/projects"])


def _evil_tree(inst: Installed) -> tuple[str, str]:
    """A user-owned dir of hostile files; each would create a marker as whoever runs it."""
    u = inst.users[0]
    evil = os.path.join(u.pw_dir, "evil")
    marker = os.path.join(inst.work, "pwned")  # users cannot write here: only root could create it
    os.makedirs(os.path.join(evil, "pyrkt"), exist_ok=True)
    code = f"import os\nopen({marker!r}, 'w').write(str(os.geteuid()))\n"
    for name in ("sitecustomize.py", "usercustomize.py", "startup.py", "os.py", "pyrkt/__init__.py", "tomllib.py"):
        with open(os.path.join(evil, name), "w") as f:
            f.write(code)
    csrc = os.path.join(evil, "evil.c")
    with open(csrc, "w") as f:
        f.write(f'#include <stdio.h>\n__attribute__((constructor)) static void p(void) {{ FILE *f = fopen("{marker}", "w"); '
                'if (f) fclose(f); }\nint gconv_init(void *s) { p(); return 0; }\nint gconv(void) { return 0; }\n')
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", os.path.join(evil, "evil.so"), csrc], check=True)
    for name in ("libc.so.6", "libpython3.11.so.1.0"):
        subprocess.run(["cp", os.path.join(evil, "evil.so"), os.path.join(evil, name)], check=True)
    with open(os.path.join(evil, "gconv-modules"), "w") as f:
        f.write("module  INTERNAL  EVIL//  evil  1\nmodule  EVIL//  INTERNAL  evil  1\n")
    for name in ("rkt", "python3", "python3.11", "setpriv", "gcc", "sh"):
        p = os.path.join(evil, name)
        with open(p, "w") as f:
            f.write(f"#!/bin/sh\ntouch {marker}\n")
        os.chmod(p, 0o755)
    # a crafted locale: LOCPATH/LANG pointing at a user-made LC_CTYPE
    os.makedirs(os.path.join(evil, "loc", "xx_XX.UTF-8"), exist_ok=True)
    with open(os.path.join(evil, "loc", "xx_XX.UTF-8", "LC_CTYPE"), "wb") as f:
        f.write(b"\xff" * 4096)
    subprocess.run(["chown", "-R", f"{u.pw_uid}:{u.pw_gid}", evil], check=True)
    return evil, marker


def test_hostile_environment(inst: Installed) -> None:
    u = inst.users[0]
    evil, marker = _evil_tree(inst)
    env = {
        "PYTHONPATH": evil, "PYTHONSTARTUP": os.path.join(evil, "startup.py"), "PYTHONINSPECT": "1",
        "PYTHONHOME": evil, "PYTHONUSERBASE": evil, "PYTHONEXECUTABLE": os.path.join(evil, "python3"),
        "LD_PRELOAD": os.path.join(evil, "evil.so"), "LD_LIBRARY_PATH": evil, "LD_AUDIT": os.path.join(evil, "evil.so"),
        "GCONV_PATH": evil, "CHARSET": "EVIL", "PATH": f"{evil}:/usr/bin:/bin", "HOME": evil, "TMPDIR": evil,
        "LANG": "xx_XX.UTF-8", "LC_ALL": "xx_XX.UTF-8", "LOCPATH": os.path.join(evil, "loc"),
        "XDG_CONFIG_HOME": evil, "RKT_EXPERIMENT_APP": "true",
    }
    r = inst.run(u, "-e", "/bin/sh", "bb", "-c", "id; echo ${LD_PRELOAD:-clean}", env=env)
    ok_as_user(r, inst)
    assert "clean" in r.stdout  # the user's environment never reaches the app either, unless the policy passes it
    assert not os.path.exists(marker), "hostile code ran"
    assert not any(n.startswith("pwned") for n in os.listdir(inst.work))


def test_nothing_written_where_the_user_can_write(inst: Installed) -> None:
    u = inst.users[1]
    cwd = os.path.join(u.pw_dir, "cwd")
    os.makedirs(cwd, exist_ok=True)
    os.chown(cwd, u.pw_uid, u.pw_gid)
    # a planted symlink, in the cwd and named like rkt-run's own files, points at a root file
    target = os.path.join(inst.work, "victim")
    with open(target, "w") as f:
        f.write("intact\n")
    for name in ("env", "rktrunner.toml", ".rkt-run", "pod"):
        p = os.path.join(cwd, name)
        if not os.path.lexists(p):
            os.symlink(target, p)
    before = sorted(os.listdir(cwd))
    r = inst.run(u, "--set-env", "A=1", "-e", "/bin/id", "bb", cwd=cwd, env={"TMPDIR": cwd})
    ok_as_user(r, inst, 1)
    assert sorted(os.listdir(cwd)) == before
    assert open(target).read() == "intact\n"
    # rkt-run's own dir is root's alone, and holds no env file after the run
    st = os.stat(inst.state)
    assert st.st_uid == 0 and st.st_mode & 0o777 == 0o700
    assert not [n for n in os.listdir(inst.state) if n.startswith("env-")]
    # a state dir replaced by a symlink (a rename race) is refused, never followed
    os.rename(inst.state, inst.state + ".real")
    os.symlink(cwd, inst.state)
    try:
        r = inst.run(u, "--set-env", "A=1", "-e", "/bin/id", "bb", cwd=cwd)
        assert r.returncode == 2 and "symlink" in r.stderr and "uid=" not in r.stdout, r.stderr
        assert sorted(os.listdir(cwd)) == before
    finally:
        os.unlink(inst.state)
        os.rename(inst.state + ".real", inst.state)


@pytest.mark.parametrize("where", ["lib", "prefix", "file"])
def test_writable_dir_above_the_installed_code_is_refused(inst: Installed, where: str) -> None:
    u = inst.users[0]
    lib = os.path.join(inst.prefix, "lib", "pyrkt-rktrun")
    path = {"lib": os.path.join(inst.prefix, "lib"), "prefix": inst.prefix,
            "file": os.path.join(lib, "pyrkt", "runner", "command.py")}[where]
    mode = os.stat(path).st_mode & 0o7777
    os.chmod(path, mode | 0o002)
    try:
        r = inst.run(u, "-e", "/bin/id", "bb")
        assert r.returncode == 126 and "writable by group or others" in r.stderr, r.stderr
        assert "uid=" not in r.stdout
    finally:
        os.chmod(path, mode)
    ok_as_user(inst.run(u, "-e", "/bin/id", "bb"), inst)


def test_policy_can_still_choose_the_user(inst: Installed) -> None:
    """The app runs as the user unless the policy says otherwise (here: --user=0 from the sysadmin)."""
    inst.policy(POLICY.replace('run = ["--net=host"]', 'run = ["--net=host"]\nimage = ["--user=0", "--group=0"]'))
    r = inst.run(inst.users[0], "-e", "/bin/id", "bb")
    assert r.returncode == 0 and "uid=0" in r.stdout, r.stderr


def test_lowered_file_size_limit_does_not_cut_roots_writes(inst: Installed) -> None:
    """A soft RLIMIT_FSIZE of 0 would kill rkt-run (SIGXFSZ) half-way through writing the env file or the store."""
    r = inst.run(inst.users[0], "--set-env", "A=1", "-e", "/bin/sh", "bb", "-c", "id; echo A=$A",
                 wrap=("prlimit", "--fsize=0:unlimited", "--"))
    ok_as_user(r, inst)
    assert "A=1" in r.stdout

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: git_source
short_description: Fetch an app's git repository into a root-owned cache and export one commit as a release tree
description:
  - Keeps a bare mirror of O(repo) in O(dest), a directory only root may write, and resolves O(version)
    (branch, tag or commit) to a commit.
  - Credentials never appear in the module's arguments, command lines or output. An https user and token come from
    O(credentials_file) (git's C(store) helper format), an SSH deploy key from O(key_file); both are root-only files
    on the host. Host keys are checked against O(known_hosts_file); blind first-contact acceptance needs O(accept_hostkey=true).
  - A repository that is a path on the host owned by another user (a push-to-deploy bare repository) is trusted for
    this fetch only, through a throw-away git configuration; git's ownership check stays on for every other repository.
  - With O(export_to), the commit's tree is extracted into that (empty) directory by C(tar) running as
    O(export_user), so nothing of the repository's content is written by root.
  - In check mode nothing is written; the version is resolved with C(git ls-remote) or from the existing cache.
version_added: 0.2.0
author: pydeploy.web maintainers (!UNKNOWN)
options:
  repo:
    description:
      - Git URL without credentials (https, ssh, C(user@host:path), C(file://)) or an absolute path on the host.
    type: str
    required: true
  version:
    description: Branch, tag or commit (at least 7 hex digits) to resolve.
    type: str
    required: true
  dest:
    description: Bare repository used as the cache. Created root-owned 0700 when missing.
    type: path
    required: true
  key_file:
    description: Private SSH key for the fetch (a deploy key). Must be root-owned and not readable by others.
    type: path
  known_hosts_file:
    description: Known hosts file with the git server's host keys. When unset, the system's known hosts are used.
    type: path
  accept_hostkey:
    description: Accept an unknown SSH host key on first contact (C(StrictHostKeyChecking=accept-new)).
    type: bool
    default: false
  credentials_file:
    description: File in git's credential-store format with the https user and token for O(repo).
    type: path
  export_to:
    description:
      - Directory to extract the commit's tree into, made anew (owned by O(export_user), mode C(0755)); what a failed
        earlier export left there is removed first. Nothing is exported when unset.
    type: path
  export_user:
    description: User (and its group) that runs C(tar) for O(export_to) and owns the files.
    type: str
  export_exclude:
    description:
      - Paths relative to the tree's root that are not extracted (with everything under them), such as paths the
        deploy replaces with links.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  fetch:
    description: Fetch from O(repo) first. With C(false), O(version) is resolved in the cache as it is.
    type: bool
    default: true
  timeout:
    description: Seconds the fetch may take.
    type: int
    default: 300
attributes:
  check_mode:
    support: full
    description: Resolves the version without fetching or exporting.
  diff_mode:
    support: none
    description: Nothing to show as a diff.
  platform:
    support: full
    platforms: posix
    description: Needs git, ssh for SSH URLs, tar and setpriv (util-linux) on the host.
"""

EXAMPLES = r"""
- name: Fetch the app's main branch over SSH with a deploy key and a pinned host key
  pydeploy.web.git_source:
    repo: git@git.example.com:me/myapp.git
    version: main
    dest: /srv/myapp/repo.git
    key_file: /etc/pydeploy/myapp/deploy_key
    known_hosts_file: /etc/pydeploy/myapp/known_hosts
  register: source

- name: Export a tag into a new release directory as the app user
  pydeploy.web.git_source:
    repo: https://git.example.com/me/myapp.git
    version: v1.4.3
    dest: /srv/myapp/repo.git
    credentials_file: /etc/pydeploy/myapp/git-credentials
    export_to: /srv/myapp/releases/0123456789ab-1a2b3c4d
    export_user: myapp
"""

RETURN = r"""
commit:
  description: Full id of the commit O(version) resolves to.
  returned: success
  type: str
  sample: 3f1c0d2e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d
before:
  description: Commit O(version) resolved to in the cache before the fetch, or an empty string.
  returned: success
  type: str
  sample: ""
exported:
  description: Whether the tree was extracted into O(export_to).
  returned: success
  type: bool
  sample: true
"""

import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import tempfile

from ansible.module_utils.basic import AnsibleModule

HEX = re.compile(r"^[0-9a-f]{7,40}$")
USERINFO = re.compile(r"(://)[^/@\s]+@")


def redact(text):
    """Hide any user:token@ part of a URL in git's output."""
    return USERINFO.sub(r"\1***@", text or "")


def is_local(repo):
    return repo.startswith("/") or repo.startswith("file://")


def local_path(repo):
    return repo[len("file://"):] if repo.startswith("file://") else repo


class Git:
    """Runs git as root with a private, throw-away global configuration."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.home = tempfile.mkdtemp(prefix="pydeploy-git-")
        config = ["[safe]"]
        repo = self.params["repo"]
        if is_local(repo):
            path = os.path.realpath(local_path(repo))
            # Only the configured repository is trusted, for this process only.
            config += ["\tdirectory = %s" % path, "\tdirectory = %s" % os.path.join(path, ".git")]
        if self.params["credentials_file"]:
            config += ["[credential]", "\thelper = store --file=%s" % self.params["credentials_file"]]
        with open(os.path.join(self.home, ".gitconfig"), "w", encoding="utf-8") as fh:
            fh.write("\n".join(config) + "\n")
        ssh = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20"]
        if self.params["key_file"]:
            ssh += ["-o", "IdentitiesOnly=yes", "-i", self.params["key_file"]]
        if self.params["known_hosts_file"]:
            ssh += ["-o", "UserKnownHostsFile=%s" % self.params["known_hosts_file"]]
        ssh += ["-o", "StrictHostKeyChecking=%s" % ("accept-new" if self.params["accept_hostkey"] else "yes")]
        self.env = {
            "HOME": self.home,
            "XDG_CONFIG_HOME": self.home,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "/bin/false",
            "SSH_ASKPASS": "/bin/false",
            "GIT_SSH_COMMAND": " ".join(shlex.quote(a) for a in ssh),
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LC_ALL": "C",
        }

    def cleanup(self):
        shutil.rmtree(self.home, ignore_errors=True)

    def run(self, args, check=True, **kw):
        proc = subprocess.run(["git"] + args, env=self.env, capture_output=True, text=True,
                              timeout=self.params["timeout"], check=False, **kw)
        if check and proc.returncode != 0:
            self.fail("git %s failed" % (args[2] if args[0] == "--git-dir" else args[0]), proc)
        return proc

    def fail(self, what, proc):
        self.cleanup()
        self.module.fail_json(
            msg="%s for %s: %s" % (what, redact(self.params["repo"]), redact((proc.stderr or proc.stdout).strip())[-2000:]),
            rc=proc.returncode,
        )

    def cache(self, *args, **kw):
        return self.run(["--git-dir", self.params["dest"]] + list(args), **kw)

    def resolve_in_cache(self, version):
        if not os.path.isdir(self.params["dest"]):
            return ""
        for ref in ("refs/heads/%s" % version, "refs/tags/%s" % version, version):
            proc = self.cache("rev-parse", "--verify", "--quiet", "--end-of-options", ref + "^{commit}", check=False)
            if proc.returncode == 0 and proc.stdout.strip():
                return proc.stdout.strip()
        return ""

    def resolve_remote(self, version):
        proc = self.run(["ls-remote", "--end-of-options", self.params["repo"]])
        refs = {}
        for line in proc.stdout.splitlines():
            sha, _sep, ref = line.partition("\t")
            refs[ref] = sha
        for ref in ("refs/tags/%s^{}" % version, "refs/tags/%s" % version, "refs/heads/%s" % version):
            if ref in refs:
                return refs[ref]
        return ""


def check_secret_file(module, path, name):
    if not path:
        return
    try:
        st = os.lstat(path)
    except OSError as exc:
        module.fail_json(msg="%s %s cannot be read: %s" % (name, path, exc))
    if not stat.S_ISREG(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o077:
        module.fail_json(msg="%s %s must be a regular file owned by root and readable by root only" % (name, path))


def ensure_cache(module, git):
    dest = module.params["dest"]
    if os.path.islink(dest):
        module.fail_json(msg="%s is a symbolic link; the cache must be a directory owned by root" % dest)
    if not os.path.isdir(dest):
        parent = os.path.dirname(dest.rstrip("/"))
        pst = os.lstat(parent)
        if pst.st_uid != 0 or pst.st_mode & 0o022:
            module.fail_json(msg="%s must be owned by root and writable by root only to hold the cache" % parent)
        os.mkdir(dest, 0o700)
        git.cache("init", "--quiet", "--bare")
    st = os.lstat(dest)
    if st.st_uid != 0:
        module.fail_json(msg="%s is not owned by root; remove it and deploy again" % dest)
    if st.st_mode & 0o077:
        os.chmod(dest, 0o700)


def export(module, git, commit):
    target = module.params["export_to"]
    user = module.params["export_user"]
    if not user:
        module.fail_json(msg="export_user is required with export_to")
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        module.fail_json(msg="export_user %s does not exist" % user)
    parent = os.path.dirname(target.rstrip("/"))
    if os.path.islink(parent) or not os.path.isdir(parent):
        module.fail_json(msg="the directory of export_to, %s, must be an existing directory (not a link)" % parent)
    # A leftover of an interrupted export: removed without following any link in it (rmtree works through
    # directory descriptors on Linux), then made anew for the user.
    if os.path.islink(target) or os.path.isfile(target):
        os.unlink(target)
    elif os.path.isdir(target):
        shutil.rmtree(target)
    os.mkdir(target, 0o755)
    os.chown(target, pw.pw_uid, pw.pw_gid)
    os.chmod(target, 0o755)
    exclude = []
    for rel in module.params["export_exclude"]:
        rel = rel.strip("/")
        if not rel or rel.startswith("..") or "/../" in "/%s/" % rel:
            module.fail_json(msg="export_exclude entry %r is not a path inside the tree" % rel)
        exclude += ["--exclude", rel]
    rc, tarball, err = module.run_command(["git", "--git-dir", module.params["dest"], "archive", "--format=tar", commit],
                                          environ_update=git.env, encoding=None)
    if rc != 0:
        git.cleanup()
        module.fail_json(msg="Exporting commit %s failed: %s" % (commit, redact(err.decode("utf-8", "replace"))))
    # tar runs as the app user: the repository's content is written with that user's rights only.
    rc, _out, err = module.run_command(
        ["setpriv", "--reuid", user, "--regid", user, "--init-groups", "--reset-env", "--",
         "tar", "-x", "--no-same-owner", "--no-same-permissions", "--anchored", "--no-wildcards"] + exclude
        + ["-C", target, "-f", "-"],
        data=tarball, binary_data=True)
    if rc != 0:
        git.cleanup()
        module.fail_json(msg="Extracting commit %s into %s failed: %s" % (commit, target, err.strip()))


def main():
    module = AnsibleModule(
        argument_spec={
            "repo": {"type": "str", "required": True},
            "version": {"type": "str", "required": True},
            "dest": {"type": "path", "required": True},
            "key_file": {"type": "path"},
            "known_hosts_file": {"type": "path"},
            "accept_hostkey": {"type": "bool", "default": False},
            "credentials_file": {"type": "path"},
            "export_to": {"type": "path"},
            "export_user": {"type": "str"},
            "export_exclude": {"type": "list", "elements": "str", "default": []},
            "fetch": {"type": "bool", "default": True},
            "timeout": {"type": "int", "default": 300},
        },
        supports_check_mode=True,
    )
    params = module.params
    if USERINFO.search(params["repo"]):
        module.fail_json(msg="repo must not contain credentials; put them in credentials_file")
    version = params["version"]
    if not version or version.startswith("-"):
        module.fail_json(msg="version must be a branch, tag or commit")
    check_secret_file(module, params["key_file"], "key_file")
    check_secret_file(module, params["credentials_file"], "credentials_file")

    git = Git(module)
    before = git.resolve_in_cache(version)
    if module.check_mode:
        commit = git.resolve_remote(version) or (before if HEX.match(version) else "")
        if not commit and HEX.match(version) and len(version) == 40:
            commit = version
        git.cleanup()
        if not commit:
            module.fail_json(msg="%s has no branch or tag %s" % (redact(params["repo"]), version))
        module.exit_json(changed=commit != before, commit=commit, before=before, exported=False)

    ensure_cache(module, git)
    if params["fetch"]:
        git.cache("fetch", "--quiet", "--prune", "--force", "--no-write-fetch-head", "--end-of-options", params["repo"],
                  "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
    commit = git.resolve_in_cache(version)
    if not commit:
        git.cleanup()
        module.fail_json(msg="%s has no branch, tag or commit %s" % (redact(params["repo"]), version))
    exported = False
    if params["export_to"]:
        export(module, git, commit)
        exported = True
    git.cleanup()
    module.exit_json(changed=exported or commit != before, commit=commit, before=before, exported=exported)


if __name__ == "__main__":
    main()

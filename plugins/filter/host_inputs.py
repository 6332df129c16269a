# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decisions on inputs that could cross a boundary of the host: app_user, app_root, unit names, firewall sources.

Each function takes what pydeploy.web.host_inputs read on the host (or nothing of the host) and returns a list of
problems, each a sentence naming the variable and the app; an empty list means the input is safe to use.
"""

from __future__ import annotations

import posixpath
import re

# Each filter is documented in plugins/filter/<filter>.yml.

# Accounts an app must never run as, whatever the host says about them: root, the web servers' users (nginx runs
# as www-data on Debian, nginx or http elsewhere), and the shared unprivileged identities.
FORBIDDEN_USERS = frozenset(("root", "www-data", "nginx", "http", "apache", "nobody", "nogroup", "daemon", "bin",
                             "sys", "sync", "messagebus", "sshd", "systemd-network", "systemd-timesync", "_apt"))
NOLOGIN_SHELLS = frozenset(("/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false"))

# app_root may be neither these nor anything inside them: the system's own trees, kernel and runtime file systems,
# other accounts' homes, and state other software owns (/var/lib, /var/log ...). app_purge removes app_root whole.
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/lost+found",
                "/nonexistent", "/proc", "/root", "/run", "/sbin", "/snap", "/sys", "/tmp", "/usr",
                "/var/backups", "/var/cache", "/var/lib", "/var/lock", "/var/log", "/var/mail", "/var/run",
                "/var/spool", "/var/tmp", "/var/www/html")
# ... and not these themselves, though a directory inside them is a usual place for an app (/srv/<app>, the
# default, /opt/<app>, /var/www/<app>, a volume mounted at /mnt/<volume>).
SYSTEM_PARENTS = ("/", "/srv", "/opt", "/var", "/var/www", "/var/opt", "/var/local", "/mnt", "/media", "/data")
USER_PATTERN = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
ROOT_PATTERN = re.compile(r"^(/[A-Za-z0-9._-]+)+$")

# The unit file directory this collection writes to; a unit of our name anywhere else belongs to the system.
LOCAL_UNIT_DIR = "/etc/systemd/system"
UNIT_SUFFIXES = (".service", ".socket", ".timer", ".target", ".path", ".mount", ".automount", ".swap", ".slice",
                 ".scope", ".device")


def _inside(path, parent):
    """path is parent or below it."""
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _accounts(facts):
    return {a["name"]: a for a in facts.get("accounts", [])}


def _apps(facts):
    return facts.get("apps", {}) or {}


def _uid_min(facts):
    return int(facts.get("uid_min", 1000))


def _is_login(account, uid_min):
    return account["uid"] == 0 or account["uid"] >= uid_min or account.get("shell", "") not in NOLOGIN_SHELLS


def app_user_problems(facts, app, user):
    """Why app_user cannot be used for app on this host."""
    who = "%s: app_user %s" % (app, user)
    if not isinstance(user, str) or not USER_PATTERN.match(user):
        return ["%s: app_user must be a user name (lowercase letters, digits, _ and -, at most 32, starting with a "
                "letter or _); got %r." % (app, user)]
    if user in FORBIDDEN_USERS:
        return ["%s is a system account (root, a web server's or a shared one); leave app_user unset so that the app "
                "gets a system user of its own." % who]
    problems = []
    apps = _apps(facts)
    ours = apps.get(app, {}).get("user") == user
    for other, record in sorted(apps.items()):
        if other != app and record.get("user") == user:
            problems.append("%s is the user of the app %s on this host; each app needs its own user." % (who, other))
    account = _accounts(facts).get(user)
    if account is not None:
        if _is_login(account, _uid_min(facts)):
            problems.append("%s is an account of this host that can log in (uid %d, shell %s); an app runs as a "
                            "system user this collection makes: choose another name, or leave app_user unset."
                            % (who, account["uid"], account.get("shell", "")))
        elif not ours:
            problems.append("%s exists on this host and was not made by pydeploy.web for %s (uid %d, home %s); "
                            "choose a name that is not taken, or leave app_user unset."
                            % (who, app, account["uid"], account.get("home", "")))
    elif user in facts.get("groups", []) and not ours:
        problems.append("%s is not a user, but a group of that name exists (its members' rights would become the "
                        "app's); choose another name." % who)
    return problems


def app_root_problems(facts, app, root, user, others=None):
    """Why app_root cannot be the app's tree on this host. others: the other apps of this run ({name, root})."""
    who = "%s: app_root %s" % (app, root)
    if not isinstance(root, str) or not ROOT_PATTERN.match(root) or posixpath.normpath(root) != root:
        return ["%s must be an absolute, normalised path of letters, digits, '.', '_' and '-' (no '..', '//' or "
                "trailing '/'), such as /srv/%s." % (who, app)]
    for tree in SYSTEM_TREES:
        if _inside(root, tree):
            return ["%s is %s%s, a directory of the system or of its accounts: use a directory of its own such as "
                    "/srv/%s." % (who, "" if root == tree else "inside ", tree, app)]
    if root in SYSTEM_PARENTS:
        return ["%s is a directory the system or other software shares: use a directory of its own inside it, such "
                "as %s/%s." % (who, root.rstrip("/"), app)]
    problems = []
    apps = _apps(facts)
    uid_min = _uid_min(facts)
    app_users = {record.get("user") for record in apps.values()}
    for account in facts.get("accounts", []):
        home = posixpath.normpath(account.get("home") or "/")
        if account["name"] == user and apps.get(app, {}).get("user") == user:
            continue  # the app's own user, whose home is app_root
        if account["name"] in app_users:
            continue  # another app's user: its tree is checked below, as that app's
        if home == "/":
            continue
        if _inside(home, root) or (_is_login(account, uid_min) and _inside(root, home)):
            problems.append("%s %s the home directory of the account %s (%s); app_purge would delete it: use a "
                            "directory of its own." % (who, "is" if root == home else (
                                "contains" if _inside(home, root) else "is inside"), account["name"], home))
    tracked = [(name, record.get("root")) for name, record in sorted(apps.items()) if name != app]
    tracked += [(o["name"], o["root"]) for o in others or [] if o.get("name") != app]
    for name, other in tracked:
        if not other:
            continue
        if _inside(root, other) or _inside(other, root):
            problems.append("%s %s the tree of the app %s (%s); each app needs a tree of its own." % (
                who, "is" if root == other else ("is inside" if _inside(root, other) else "contains"), name, other))
    found = facts.get("root") or {}
    if found.get("exists") and apps.get(app, {}).get("root") != root:
        if found.get("link"):
            problems.append("%s is a symbolic link; give the real path of a directory this collection may own." % who)
        elif not found.get("dir") or found.get("uid") != 0 or found.get("entries"):
            problems.append("%s already exists and was not made by pydeploy.web for %s (only an empty directory "
                            "owned by root, such as a mount point, is taken over); choose another path." % (who, app))
    return problems


def _stem(name):
    for suffix in UNIT_SUFFIXES:
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return name


def app_unit_names(app):
    """Every unit name the collection gives the app itself (not its processes): the server's templates and
    instances, the gate's and release commands' transient units, and the names of the layout before 0.2.0."""
    names = ["%s@.service" % app, "%s@.socket" % app, "%s.proxy@.service" % app, "%s.service" % app,
             "%s.socket" % app, "%s-candidate.service" % app, "%s-gate-check.service" % app,
             "%s-release-command.service" % app]
    for instance in ("blue", "green"):
        names += ["%s@%s.service" % (app, instance), "%s@%s.socket" % (app, instance),
                  "%s.proxy@%s.service" % (app, instance)]
    return names


def unit_problems(facts, app, names, variable, local_ours=False):
    """Units of names that exist on the host and are not this collection's (for app).

    A unit file of such a name in a directory other than /etc/systemd/system belongs to the system or a package:
    ours would replace or mask it. One in /etc/systemd/system is ours only when local_ours says so (the app is this
    collection's on the host). An instance name (a@b.service) also collides with the template (a@.service), and any
    unit whose stem is the app's name (apt-daily.timer for an app apt-daily) with the app itself.
    """
    wanted = set(names)
    for name in names:
        if "@" in name:
            stem, rest = name.split("@", 1)
            wanted.add("%s@%s" % (stem, rest[rest.index("."):] if "." in rest else ""))
    problems = []
    for directory, files in sorted((facts.get("unit_files") or {}).items()):
        if directory == LOCAL_UNIT_DIR and local_ours:
            continue
        hits = sorted(f for f in files if f in wanted or (variable == "app_name" and _stem(f) in (app, app + "@")))
        for hit in hits:
            problems.append("%s: %s %s would take the name of %s/%s, a unit pydeploy.web did not write for %s; "
                            "rename it." % (app, variable, _name_of(hit, app, variable), directory, hit, app))
    return problems


def _name_of(unit, app, variable):
    if variable == "app_name":
        return app
    rest = _stem(unit)[len(app) + 1:]
    return rest.split("@", 1)[0]


def apps_overlap_problems(app, user, root, seen):
    """app against the apps of pydeploy_apps before it on this host (seen: [{name, user, root}])."""
    problems = []
    for other in seen or []:
        if other.get("name") == app:
            continue
        if other.get("user") == user:
            problems.append("%s: app_user %s is also the user of the app %s in pydeploy_apps; each app needs its own "
                            "user." % (app, user, other["name"]))
        if _inside(root, other["root"]) or _inside(other["root"], root):
            problems.append("%s: app_root %s overlaps the app_root of the app %s in pydeploy_apps (%s); each app "
                            "needs a tree of its own." % (app, root, other["name"], other["root"]))
    return problems


def web_sources(inventory, balancers):
    """firewall_web_sources: the inventory's networks and the balancers' addresses, each once. Empty inventory and
    no balancers: empty (the web ports are open to everyone)."""
    merged = []
    for network in list(inventory or []) + list(balancers or []):
        if network not in merged:
            merged.append(network)
    return merged


class FilterModule:
    def filters(self):
        return {
            "app_user_problems": app_user_problems,
            "app_root_problems": app_root_problems,
            "app_unit_names": app_unit_names,
            "unit_problems": unit_problems,
            "apps_overlap_problems": apps_overlap_problems,
            "web_sources": web_sources,
        }

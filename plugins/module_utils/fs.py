# -*- coding: utf-8 -*-
# Copyright: pydeploy.web maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Owner, group and mode arguments shared by the directories and files modules."""

from __future__ import annotations

import grp
import pwd


def parse_mode(value, path):
    """The int of an octal mode string such as "0750"; ValueError naming path when it is not one."""
    try:
        mode = int(value, 8)
    except (TypeError, ValueError):
        mode = -1
    if not 0 <= mode <= 0o7777:
        raise ValueError("mode %r of %s is not an octal mode" % (value, path))
    return mode


def _lookup(kind, name, lookup, check_mode):
    try:
        return lookup(name)
    except KeyError:
        if check_mode:
            return None
        raise ValueError("unknown %s %r" % (kind, name)) from None


def resolve_ids(owner, group, check_mode=False):
    """(uid, gid) of a user and a group name; ValueError naming the one that does not exist.

    In check mode an unknown name is not an error (the same play may create that user first): its id is None,
    which matches no path's id, so the path counts as changed.
    """
    return (_lookup("user", owner, lambda n: pwd.getpwnam(n).pw_uid, check_mode),
            _lookup("group", group, lambda n: grp.getgrnam(n).gr_gid, check_mode))

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _collections_path():
    """A directory holding ansible_collections/pydeploy/web, so the modules' module_utils imports resolve."""
    if ROOT.parent.name == "pydeploy" and ROOT.parents[1].name == "ansible_collections":
        return ROOT.parents[2]  # a checkout already at a collection path (ansible-test's copy)
    # The same uncommitted link scripts/lib.sh ensure_collection_link makes.
    link = ROOT / ".collections" / "ansible_collections" / "pydeploy" / "web"
    if not os.path.islink(link):
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink("../../..", link)
    return ROOT / ".collections"


sys.path.insert(0, str(_collections_path()))
sys.path.insert(0, str(ROOT / "plugins" / "modules"))

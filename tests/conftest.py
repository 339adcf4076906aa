"""Make ``ansible_collections.kubedebug.lab`` importable for pytest.

The collection is used through ``.build/collections/ansible_collections/
kubedebug/lab`` (a symlink to the repo root made by hack/lib.sh); put that on
sys.path so tests import it the way Ansible does.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
link = os.path.join(COLLECTIONS, "ansible_collections", "kubedebug", "lab")
if not os.path.exists(link):
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(ROOT, link)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", COLLECTIONS)

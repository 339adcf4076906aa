# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""Static-pod manifests: run one container under dlv, keep the original safe, put it back byte-exact.

The kubelet runs every file in its static-pod directory whose name does not
start with a dot, whatever the extension (kubernetes#136962, #55596,
kubeadm#2823): a ``kube-apiserver.yaml.old`` next to the manifest is a second
pod. So the original is kept in a backup directory *outside* the manifest
directory, and every file written into the manifest directory goes through a
dot-named temp file, fsync and rename (``_files.atomic_write``).

Files of one session, for manifest ``NAME`` in ``backup_dir``:

* ``NAME``                  the original, byte for byte;
* ``NAME.sha256``           its sha256 (``sha256sum -c`` format);
* ``NAME.kubedebug.json``   the record: original path, sha256, mode, owner,
                            session mode, and the sha256 of every debug form
                            written in this session.

Write order for ``debug``: backup, sha256, record, then the manifest. Removal
order for ``restored``: manifest written back and verified, then record,
sha256, backup. Whatever step a run is killed at, the manifest directory holds
either the original or a complete debug form, and a later run (either state)
recognises where it stopped. A backup is never overwritten: an existing one
must hold exactly the current original, or the run fails naming the files.

Manifests are read and written by ``_podyaml``: read as the kubelet reads them
(YAML needs PyYAML on the managed host, JSON does not), written as block YAML
by the collection's own emitter. Restoring needs no YAML at all: it copies bytes.

The package:

* ``manifest.py``  the manifest as the kubelet reads it: parse, check, the container and its argv;
* ``rewrite.py``   how the debug form is made (``plan_debug``): pure, one function a step;
* ``store.py``     the backup set (original, sha256, record) outside the manifest directory;
* ``flow.py``      the runs: ``debug`` (pod and host mode) and ``restore``, read-only first.
"""

from __future__ import annotations

from ansible_collections.kubedebug.lab.plugins.module_utils._staticpod.flow import debug, restore
from ansible_collections.kubedebug.lab.plugins.module_utils._staticpod.manifest import (
    ANN_LISTEN,
    ANN_SHA,
    DEFAULT_BACKUP_DIR,
    DEFAULT_CONTAINER_DIR,
    container_argv,
    parse,
    raw_marker,
)
from ansible_collections.kubedebug.lab.plugins.module_utils._staticpod.podyaml import render_yaml
from ansible_collections.kubedebug.lab.plugins.module_utils._staticpod.rewrite import plan_debug

__all__ = ["ANN_LISTEN", "ANN_SHA", "DEFAULT_BACKUP_DIR", "DEFAULT_CONTAINER_DIR", "container_argv", "debug", "parse", "plan_debug",
           "raw_marker", "render_yaml", "restore"]

# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Options of every module that downloads from a Go module proxy
    # (argspec: GOPROXY_ARG_SPEC in module_utils/_goproxy.py).
    DOCUMENTATION = r"""
options:
  go_bin:
    description:
      - The go command that downloads. Empty means one found on the host (the module's description says where it looks).
    type: path
  goproxy:
    description:
      - GOPROXY to download through - the public proxy, or a company's mirror (V(https://goproxy.example.com)). A mirror
        that serves C(/sumdb/sum.golang.org/) lets the go command reach the checksum database through it.
      - Empty means the host's GOPROXY (environment or C(go env -w)), which is V(https://proxy.golang.org,direct) unless set.
    type: str
    default: ""
  gosumdb:
    description:
      - The checksum database (GOSUMDB), for example V(sum.golang.org) or V(sum.golang.org https://mirror.example.com/sumdb/sum.golang.org).
        V(off) is refused, here, in the environment and in the go command's C(go env -w) file.
      - Empty means the host's GOSUMDB, which is V(sum.golang.org) unless set.
    type: str
    default: ""
  cache_dir:
    description: The module cache (GOMODCACHE) to download into. Empty means the host's (C(go env GOMODCACHE)).
    type: path
"""

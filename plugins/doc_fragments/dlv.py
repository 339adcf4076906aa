# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Options of every module that launches a component under dlv
    # (argspec: DLV_ARG_SPEC in module_utils/_dlv.py).
    DOCUMENTATION = r"""
options:
  listen:
    description:
      - Address the headless Delve server listens on, C(host:port) (IPv6 as C([::1]:2345)).
      - A headless Delve server has no authentication; whoever reaches it runs code as the
        debugged process. Keep the loopback default and reach it with the printed C(ssh -L)
        tunnel. A non-loopback address is used only when given explicitly, with a warning.
    type: str
    default: 127.0.0.1:2345
  continue_after_start:
    description:
      - Start the component running (C(--continue)) instead of paused until a client connects.
      - Requires O(accept_multiclient).
    type: bool
    default: true
    aliases: [continue]
  accept_multiclient:
    description:
      - Pass C(--accept-multiclient) so clients can detach and reconnect without killing the component.
      - With it, dlv stays alive after the component exits; supervisors do not see the crash.
    type: bool
    default: true
  api_version:
    description: Delve JSON-RPC API version. Only 2 exists in current Delve.
    type: int
    default: 2
    choices: [2]
  dlv_path:
    description: The dlv binary; resolved to an absolute path on the host when it is on E(PATH).
    type: str
    default: dlv
  dlv_flags:
    description:
      - Extra dlv flags placed before C(--), for example C(--check-go-version=false).
      - Flags this module sets itself (listen, headless, api-version, accept-multiclient, continue, log) are refused here.
    type: list
    elements: str
    default: []
  dlv_log:
    description: Pass C(--log) to dlv.
    type: bool
    default: false
  dlv_log_output:
    description: Value of C(--log-output), for example C(debugger,rpc). Implies O(dlv_log).
    type: str
  dlv_log_dest:
    description: Value of C(--log-dest) (a file path). Implies O(dlv_log).
    type: str
"""

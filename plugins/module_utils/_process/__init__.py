# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""The process and its relaunch under dlv: /proc, argv quoting, process control, dlv's command line and API, the relaunch."""

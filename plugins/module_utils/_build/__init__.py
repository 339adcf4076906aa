# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""Builds: the Kubernetes tree, Go and Delve versions, what a binary's DWARF and ELF say, the Go module proxy."""

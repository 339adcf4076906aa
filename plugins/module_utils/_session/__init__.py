# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""Debug sessions: the model (kinds, records, journal, version check), the debug_session run, IDE configurations."""

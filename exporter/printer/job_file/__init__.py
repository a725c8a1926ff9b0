"""A job's file: its filament plan, read from the 3MF the printer keeps, over implicit FTPS.

The pure part (plan, slice_info, three_mf, trays) turns bytes into a JobPlan and maps its
filaments to trays; the I/O part (ftps, ranged_file, fetch, pool) finds and reads the file
under deadlines and caps.
"""

"""The smart-locker back office of seed 000 ("Web"): devices, bays, lockers, banks, people, places
and the logins, under ``/api/…`` (conventions: :mod:`api.vendor.web.conventions`)."""

"""What a capability does, apart from how it is asked: the flows, the staff
use-cases (`bot/staff/`) and the timers all call these. `notify.py` is the one
way to tell a citizen or alert officers."""

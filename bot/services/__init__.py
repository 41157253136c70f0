"""What a capability does, apart from how it is asked: the flows, the admin
API, the staff pages and the timers all call these."""

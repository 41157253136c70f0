"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) for complaints:
the public, approved complaints for civic-tech tools to read, and a way for
those tools (with a key from `klokot-bot open311 add-key`) to file new ones."""

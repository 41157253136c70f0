"""Complaints, suggestions and praise as staff work on them (SPEC §3.4, §3.7),
without the web: the admin API and the staff pages both call these.

- `views`: what staff see — the read-model shapes (`ComplaintOut`,
  `ComplaintDetail` …), the one filter model (`ComplaintFilters`), the
  queries (the box, one complaint, a stored photo) and the audit of which
  senders were shown.
- `actions`: what staff do — change the state, reply, note, assign, publish
  or withdraw for Open311; each change with its audit entry.
- `export`: the CSV rows and bytes of the box.

Department officers see and act only on their own department's complaints;
another department's complaint (and its photos) is not found for them, so
references cannot be probed. Who sent a complaint is shown only to roles that
see citizens' personal data (`bot.staff.permissions.shows_personal`) and never
for an anonymous one: then no answer, page, export or audit entry says
anything about the sender — the links to the citizen are used only to
deliver replies."""

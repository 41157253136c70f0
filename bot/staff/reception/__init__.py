"""The mayor's reception as staff use it (SPEC §3.2, §3.7), with no web in it:

- `views`: the read-model shapes (`DayOut`, `BookingOut`, `UrgentOut`, …), the
  filters (`DayFilters`, `BookingFilters`), the queries, and what each list or
  page shows — with the audit entry of the personal data it showed;
- `actions`: the staff changes (add, change, close and reopen a day, mark a
  booking, an urgent request handled), each with its audit entry;
- `export`: the bookings as CSV bytes (every export is audited);
- `calendar`: each officer's secret iCalendar feeds and the .ics they serve.

The rules themselves (slots, who may book, what a change may touch) are in
`bot.services.reception`, shared with the chat; the admin API
(`bot.admin.api.reception`) and the staff pages (`bot.admin.reception_pages`)
only parse, call these and answer."""
